"""Multiple choice (HellaSwag, Cosmos QA, CommonsenseQA): score every (context, choice) pair, pick the best.

Examples are ``{"id", "context", "choices": [...], "label": int or None}`` (see
``stilts.data.readers.multiple_choice`` for what ``context`` holds per task). Each choice is encoded with
the context as a sentence pair, so one feature holds ``input_ids`` of shape (choices, length). The
encoder sees the pairs as a flat batch of (batch x choices) sequences; a head of dropout + a linear
layer maps each pair's first-token state to one score, and a softmax over a question's choices gives
the cross-entropy loss, as in Hugging Face's ``*ForMultipleChoice`` models (which read the pooler;
we read the first token so that any encoder works, as the classification head does).

A batch may mix questions with different numbers of choices: missing choices are filled with a copy
of the question's first choice and masked out of the softmax (their score is the lowest float).
"""

from __future__ import annotations

import numpy as np

from stilts.formats.base import TaskFormat, TransferRows, encoder_inputs, pad_right
from stilts.metrics.classification import accuracy
from stilts.metrics.per_example import example_id, right, row_text
from stilts.metrics.predictions import value_lines

IGNORE_INDEX = -100  # label of a question without a gold answer (test files): the loss skips it
#: ours: jiant's ``simple`` runscript default ``max_seq_length=256`` (the paper ran jiant); Cosmos QA
#: passages plus question and answer often pass 128 sub-words
MULTIPLE_CHOICE_MAX_LENGTH = 256
#: keys of a feature that are per-choice token lists
_PAIR_KEYS = ("input_ids", "attention_mask", "token_type_ids")


class MultipleChoice(TaskFormat):
    name = "multiple_choice"
    text_fields = ("context", "choices")
    scored_translated = True
    default_max_length = MULTIPLE_CHOICE_MAX_LENGTH

    def label_problem(self, example, task):
        label, choices = example.get("label"), example["choices"]
        if label is not None and (isinstance(label, bool) or not isinstance(label, int) or label >= len(choices)):
            return f"label {label!r} is not the index of one of the {len(choices)} choices"
        return None

    def featurize(self, examples, tokenizer, task, max_length):
        contexts, endings, sizes = [], [], []
        for context, choices in zip(examples["context"], examples["choices"]):
            contexts.extend([context] * len(choices))
            endings.extend(choices)
            sizes.append(len(choices))
        # "longest_first" trims the longer side token by token: long passages lose their tail, short
        # answers stay whole (Hugging Face's run_swag does the same)
        encoded = tokenizer(contexts, endings, truncation="longest_first", max_length=max_length)
        features: dict[str, list] = {key: [] for key in encoded}
        start = 0
        for size in sizes:
            for key in encoded:
                features[key].append(encoded[key][start : start + size])
            start += size
        features["labels"] = [IGNORE_INDEX if label is None else int(label) for label in examples["label"]]
        return features

    def collate(self, features, tokenizer):
        import torch  # in the methods that run a model only (see stilts.formats.base)

        n_choices = max(len(feature["input_ids"]) for feature in features)
        flat, mask = [], []
        for feature in features:
            size = len(feature["input_ids"])
            for choice in range(n_choices):
                source = choice if choice < size else 0  # a filler, masked below
                flat.append({key: feature[key][source] for key in _PAIR_KEYS if key in feature})
            mask.append([choice < size for choice in range(n_choices)])
        padded = pad_right(tokenizer, flat)
        batch = {key: value.view(len(features), n_choices, -1) for key, value in padded.items()}
        batch["choice_mask"] = torch.tensor(mask, dtype=torch.bool)
        batch["labels"] = torch.tensor([feature["labels"] for feature in features], dtype=torch.long)
        return batch

    def build_head(self, task, hidden_size):
        from stilts.formats.heads import ChoiceScoringHead

        return ChoiceScoringHead(hidden_size)

    hf_task_model = "AutoModelForMultipleChoice"

    def export_head(self, head, task_model):
        raise ValueError(
            "its head scores each choice's first token state directly, while transformers' multiple-choice "
            "models score the pooled state (dense + tanh): no exact conversion"
        )

    def forward(self, encoder, head, batch):
        import torch
        from torch import nn

        batch_size, n_choices = batch["input_ids"].shape[:2]
        pairs = {key: value.flatten(0, 1) for key, value in encoder_inputs(batch).items()}
        states = encoder(**pairs).last_hidden_state[:, 0]  # (batch x choices, hidden)
        scores = head(states).view(batch_size, n_choices)
        if "choice_mask" in batch:
            scores = scores.masked_fill(~batch["choice_mask"], torch.finfo(scores.dtype).min)
        loss = None
        if "labels" in batch:
            loss = nn.functional.cross_entropy(scores.float(), batch["labels"], ignore_index=IGNORE_INDEX)
        return loss, scores

    def predict(self, outputs, features, examples, task):
        """The index of the best-scoring choice of each question (one feature per question)."""
        predictions: list[int | None] = [None] * len(examples)
        for output, example_index in zip(outputs, features["example_index"]):
            predictions[example_index] = int(np.asarray(output).argmax())
        return predictions

    def probabilities(self, outputs, features, examples, task):
        """The softmax over each question's own choices (fillers a batch added are left out), keyed by the
        choice's index as the predictions are."""
        from stilts.analysis.calibration import softmax  # pandas, which the catalogs need not import

        probabilities: list[dict[str, float]] = [{} for _ in examples]
        for output, example_index in zip(outputs, features["example_index"]):
            scores = np.asarray(output, dtype=np.float64)[: len(examples[example_index]["choices"])]
            probabilities[example_index] = {str(i): p for i, p in enumerate(softmax(scores[None, :])[0].tolist())}
        return probabilities

    transfer_labels = "each choice's first-token state, labelled correct or not"

    def transfer_rows(self, encoder, batch):
        """Each (context, choice) pair's first-token state, which the head scores, labelled 1 for the
        question's answer and 0 for the other choices; fillers and questions without an answer are left out."""
        batch_size, n_choices = batch["input_ids"].shape[:2]
        pairs = {key: value.flatten(0, 1) for key, value in encoder_inputs(batch).items()}
        states = encoder(**pairs).last_hidden_state[:, 0].float().cpu().numpy()
        gold = batch["labels"].cpu().numpy()
        labels = (np.arange(n_choices)[None, :] == gold[:, None]).astype(np.int64)
        keep = batch["choice_mask"].cpu().numpy() & (gold[:, None] != IGNORE_INDEX)
        return TransferRows(states[keep.reshape(-1)], labels=labels[keep])

    def constant_guesses(self, examples, task):
        """The same choice position for every question."""
        positions = max((len(example["choices"]) for example in examples), default=0)
        return [[position] * len(examples) for position in range(positions)]

    def score(self, predictions, examples, task, language):
        return {"accuracy": accuracy(predictions, [example["label"] for example in examples])}

    def prediction_text(self, predictions, examples, task, state):
        """The 0-based index of the chosen choice, one question a line."""
        return value_lines(predictions)

    def example_rows(self, predictions, examples, task, language, state):
        return [
            {
                "id": example_id(example, index),
                "text": row_text(example, self.text_fields),
                "gold": example["label"],
                "prediction": prediction,
                "metrics": {"accuracy": right(prediction == example["label"])},
            }
            for index, (prediction, example) in enumerate(zip(predictions, examples))
        ]


MULTIPLE_CHOICE = MultipleChoice()
