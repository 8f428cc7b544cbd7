"""What a task format provides.

A task format turns examples into model inputs, owns the output head and its loss, and turns model
outputs back into predictions and scores. The training and evaluation loops only talk to this
interface, so adding a task that fits an existing format is one catalog entry and nothing else.

The format modules import torch only inside the methods that run a model, and their heads live in
`stilts.formats.heads`: every catalog imports the formats, and `stilts tasks`, dry runs and bad-input
errors must not wait seconds for torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from stilts.core import defaults

if TYPE_CHECKING:
    import torch
    from torch import nn

    from stilts.core.catalog import Task


@dataclass
class TransferRows:
    """What `stilts rank` estimates an encoder's transferability to a task from (`stilts.analysis.transferability`):
    the encoder's features of a batch, one row per unit the format's head reads (a sentence's first token, each
    choice's first token, a tagged word's first sub-word, every token of a QA window), and what each row is.

    Either ``labels``, a class id per row (the class-label formats), or ``spans``, for span QA: per window its
    number of token rows (they follow the rows of the windows before it) and its answer's first and last token
    (both the first token, where the answer is not in the window: what the head is trained to point at)."""

    #: rows x hidden size, float32
    features: np.ndarray
    labels: np.ndarray | None = None
    #: (lengths, starts, ends), one each per window
    spans: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @staticmethod
    def joined(parts: Sequence[TransferRows]) -> TransferRows:
        """The rows of ``parts`` (batches) one after another."""
        if not parts:
            raise ValueError("no rows to join")
        features = np.concatenate([part.features for part in parts])
        if parts[0].spans is not None:
            lengths, starts, ends = (np.concatenate([part.spans[i] for part in parts if part.spans]) for i in range(3))
            return TransferRows(features, spans=(lengths, starts, ends))
        return TransferRows(features, labels=np.concatenate([part.labels for part in parts if part.labels is not None]))


class TaskFormat:
    """Base class; one subclass per format in ``stilts/formats/``."""

    name: str = ""
    #: fields of an example that hold text (what `translate` translates); the rest are kept as is
    text_fields: tuple[str, ...] = ()
    #: the text fields an example may leave None (a single-sentence task's ``text_b``)
    optional_text_fields: tuple[str, ...] = ()
    #: whether the task needs a trained head (retrieval does not)
    trains: bool = True
    #: whether its labelled examples can be scored with their text fields machine-translated string by
    #: string (translate-test, `stilts.translate.evaluation`): each example's label is its own and survives
    #: translation (not character spans of its text, not tags of its words, not a rank among others)
    scored_translated: bool = False
    #: maximum sequence length when a stage does not set one
    default_max_length: int = defaults.MAX_SEQ_LENGTH
    #: whether the format trains on packed batches (`stilts.formats.packing`) where a pipeline packs:
    #: its features are one token sequence each plus scalar labels, and its ``forward`` reads a packed
    #: batch's states per example; formats that do not pack train in padded batches
    packs: bool = False
    #: whether a long example becomes several features (QA contexts, long sentences), so that a stage's
    #: batches are known only once its data is tokenized; otherwise each example is one feature
    windows: bool = False

    def example_problem(self, example: dict, task: Task) -> str | None:
        """What is wrong with one example that no release-file reader checked, or None: the lines of a
        file in the task's own schema (`stilts translate` output, `stilts.translate.dataset`) and the
        rows the Hub serves (`stilts.data.loading`). Every text field must hold a string (or a list of them:
        choices; None where `optional_text_fields` allows), and the format checks its label
        (`label_problem`): a null sentence would otherwise pass the data check and crash the tokenizer
        mid-stage."""
        from stilts.data.readers._io import json_type

        for name in self.text_fields:
            value = example.get(name)
            if value is None and name in self.optional_text_fields:
                continue
            if isinstance(value, list):
                wrong = next((index for index, item in enumerate(value) if not isinstance(item, str)), None)
                if wrong is not None:
                    return f"field '{name}'[{wrong}] should be text, found {json_type(value[wrong])}"
            elif not isinstance(value, str):
                return f"field '{name}' should be text, found {json_type(value)}"
        return self.label_problem(example, task)

    def label_problem(self, example: dict, task: Task) -> str | None:
        """What is wrong with the label of an example in the task's own schema (`example_problem`)."""
        return None

    def featurize(self, examples: dict[str, list], tokenizer, task: Task, max_length: int) -> dict[str, list]:
        """Tokenize a batch of examples (columns -> lists) into features (columns -> lists)."""
        raise NotImplementedError

    def collate(self, features: list[dict], tokenizer) -> dict[str, torch.Tensor]:
        """Pad a list of features to the longest in the batch (dynamic padding)."""
        raise NotImplementedError

    def build_head(self, task: Task, hidden_size: int) -> nn.Module:
        raise NotImplementedError

    def init_head(self, head: nn.Module, encoder: nn.Module, model_path: str, log) -> None:
        """Called once on each head a training stage builds, before training, with the incoming encoder
        and the model it was loaded from (a Hub id or folder). Heads that depend on the encoder (the MLM
        head's vocabulary-sized bias) or may start from pretrained weights in the checkpoint (the MLM
        head) are set up here; ``log`` takes one line saying which. Most heads need nothing."""

    #: the transformers Auto class whose head this format's head converts to exactly (`stilts export`);
    #: None: no standard task model takes it
    hf_task_model: str | None = None

    def export_head(self, head: nn.Module, task_model: nn.Module) -> None:
        """Copy ``head``'s weights into the head of ``task_model`` (an ``hf_task_model``) so that its
        logits are this format's; raise ValueError (saying why) where its layout differs."""
        raise ValueError(f"the {self.name} format has no standard transformers task model")

    def hf_logits(self, outputs) -> torch.Tensor:
        """The task model's outputs as this format's `forward` outputs (to check an export)."""
        return outputs.logits

    def forward(self, encoder: nn.Module, head: nn.Module | None, batch: dict[str, torch.Tensor]):
        """Return ``(loss or None, outputs)``; ``outputs`` are what `predict` receives, per feature.
        ``head`` is None for a format that does not train one (`trains`)."""
        raise NotImplementedError

    def predict(self, outputs: Any, features, examples: list[dict], task: Task) -> list:
        """Predictions, one per example, from the stacked outputs of all features."""
        raise NotImplementedError

    def probabilities(self, outputs: Any, features, examples: list[dict], task: Task) -> list[dict[str, float]] | None:
        """Per example, the probability the model gives each answer it chooses among, keyed by the answer as
        text as `example_rows` writes its gold and prediction (a classification's labels in the task's order,
        a question's choice indices), from the same outputs as `predict`, whose prediction is the most
        probable answer: what calibration is measured on (`stilts table --calibration`). None: the format's
        predictions are not one choice among a few (spans, tags, rankings)."""
        return None

    #: what `transfer_rows` labels each row with, in words (`stilts rank` prints it); None: the format has no
    #: labels to estimate transferability from (retrieval, masked LM)
    transfer_labels: str | None = None

    def transfer_rows(self, encoder: nn.Module, batch: dict[str, torch.Tensor]) -> TransferRows:
        """The encoder's features of a collated, labelled ``batch``, as `TransferRows`: the states the
        format's head reads, each with its label. Only for formats with `transfer_labels`."""
        raise NotImplementedError(f"the {self.name} format has no labels to estimate transferability from")

    def score(self, predictions: list, examples: list[dict], task: Task, language: str) -> dict[str, float]:
        """Metrics on a 0-100 scale, the task's main metric among them."""
        raise NotImplementedError

    def constant_guesses(self, examples: list[dict], task: Task) -> list[list]:
        """Predictions for ``examples`` that ignore the input, one list per answer that could be given to
        every example (each label, each choice position, ...): what `chance` scores. [] where the
        format has no such answer."""
        return []

    def chance(self, examples: list[dict], task: Task, language: str) -> float | None:
        """The chance level of ``examples``: the task's main metric for the best of `constant_guesses`,
        what a model that learned nothing gets by always giving one answer (for accuracy, the majority
        class's rate). None where the format has no constant answer."""
        scores = [
            self.score(guess, examples, task, language).get(task.metric)
            for guess in self.constant_guesses(examples, task)
        ]
        return max(float(score) for score in scores if score is not None) if scores else None

    def constant(self, predictions: list) -> str | None:
        """The answer, as text, that all of ``predictions`` (two or more) give, or None where they differ:
        a model that gives every example one answer has stopped reading its input. Formats whose
        predictions are not answers (counts, vectors) return None."""
        if len(predictions) < 2 or any(prediction != predictions[0] for prediction in predictions[1:]):
            return None
        return str(predictions[0])

    #: suffix of the official prediction file (XTREME's submission layout: json for QA, tsv otherwise)
    prediction_suffix: str = "tsv"

    def prediction_text(self, predictions: list, examples: list[dict], task: Task, state: dict) -> str:
        """``predictions`` in the official scripts' prediction format, what `stilts score` reads
        (`stilts.metrics.predictions`); works without gold labels. ``state``: the language's
        evaluation state (BUCC: the threshold its mined pairs are cut at). By default one prediction
        a line."""
        from stilts.metrics.predictions import value_lines

        return value_lines(predictions)

    def example_rows(
        self, predictions: list, examples: list[dict], task: Task, language: str, state: dict
    ) -> list[dict] | None:
        """One row per scored unit (example, sentence, question; BUCC: source sentence) of labelled
        examples: ``id``, ``text`` (what the unit is about: its text fields, `row_text`), ``gold``,
        ``prediction`` and ``metrics`` {metric: [numerator, denominator]},
        such that each metric of the split is ``100 * sum(numerators) / sum(denominators)`` over the
        rows (`stilts.metrics.per_example`): what a bootstrap resamples. None: the format's metrics
        are not sums over units (a correlation), so it keeps no per-example file."""
        return None

    def for_evaluation(self, settings: dict) -> TaskFormat:
        """This format as an evaluate stage with ``settings`` runs it (retrieval reads its ``layer`` and
        ``pooling`` there); formats without evaluation settings are used as they are."""
        return self

    def score_split(
        self, predictions: list, examples: list[dict], task: Task, language: str, split: str, state: dict
    ) -> dict[str, float]:
        """`score` for one split of one language during evaluation. ``state`` is one dict per language,
        carried across that language's splits in evaluation order (dev before test), for formats whose
        test scoring depends on dev (BUCC's threshold); what a format leaves there is saved in the stage's
        metrics.json."""
        return self.score(predictions, examples, task, language)


_Value = TypeVar("_Value")


def encoder_inputs(batch: Mapping[str, _Value]) -> dict[str, _Value]:
    """The keys of a batch that go into the encoder (labels and bookkeeping stay out); a batch of
    tensors, or of column names' anything (`stilts.formats.batching` asks which columns are the inputs)."""
    return {key: batch[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in batch}


def pad_right(tokenizer, inputs: list[dict]) -> dict[str, torch.Tensor]:
    """``inputs`` padded to the longest on the right, whatever the tokenizer's own padding side.

    Heads read the first token's state, and an encoder with absolute positions (BERT, RemBERT,
    ModernBERT's rotary ones) numbers positions from the left whether or not a token is padding: left
    padding would hand the heads a padding state and shift every position by the padding before it,
    so an example's outputs would depend on the batch it is in. Tokenizers of decoder-derived
    vocabularies often pad on the left."""
    return dict(tokenizer.pad(inputs, padding_side="right", return_tensors="pt"))


def copy_linear(source: nn.Linear, target: nn.Module) -> None:
    """``source``'s weight and bias into the Linear ``target`` (shapes must agree)."""
    import torch
    from torch import nn

    if not isinstance(target, nn.Linear) or target.weight.shape != source.weight.shape:
        raise ValueError(f"{type(target).__name__} {getattr(target, 'weight', None) is not None} does not fit")
    with torch.no_grad():
        target.weight.copy_(source.weight)
        target.bias.copy_(source.bias)
