"""Extractive (span) question answering: SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP.

Examples are in the Hugging Face ``squad`` schema: ``{"id", "title", "context", "question",
"answers": {"text": [...], "answer_start": [...]}}`` (no answers = unanswerable, SQuAD v2.0).

Features follow Hugging Face ``run_qa.py`` (``prepare_train_features`` / ``prepare_validation_features``):
question first, context second, ``truncation="only_second"``, and contexts longer than a window are cut
into overlapping windows (``return_overflowing_tokens``) of at most 384 tokens; ``stride`` = 128 is the
number of context tokens two neighbouring windows share (HF's meaning; BERT's and XTREME's original
``doc_stride`` was the step between window starts instead). Like XTREME's ``max_query_length``,
questions are cut to 64 tokens so that a long question cannot leave a window no room for context.
Each window's label is the first answer's start/end token, or the first token (CLS, index 0) when the
answer is not wholly inside that window or there is none.

Predictions follow ``postprocess_qa_predictions`` (``utils_qa.py``): per window, the 20 best start and
20 best end logits give candidate spans (both in the context, end >= start, at most 30 tokens); the
best-scoring span over all windows of an example wins, and its characters are cut from the original
context with the offset mapping, so the answer is a substring of the context (``context[start:end]``)
whatever the script or the tokenizer's normalisation. With no-answer (SQuAD v2.0) the null score is
the CLS start + end logit (the lowest over the windows); the question is left unanswered when
``null score - best span score`` exceeds a threshold (``null_score_diff_threshold``, default 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stilts.core import defaults
from stilts.core.errors import BadInput
from stilts.formats.base import TaskFormat, TransferRows, copy_linear, encoder_inputs
from stilts.metrics import mlqa, squad, squad_v2
from stilts.metrics.per_example import row_text
from stilts.metrics.predictions import qa_json

N_BEST = 20  # HF run_qa --n_best_size, BERT/XTREME n_best_size
MAX_ANSWER_TOKENS = 30  # HF run_qa --max_answer_length, BERT/XTREME max_answer_length
MAX_QUESTION_TOKENS = 64  # XTREME run_squad --max_query_length
CLS_INDEX = 0
#: offsets of tokens outside the context (question, special tokens): never part of an answer
NOT_CONTEXT = (-1, -1)
ENCODER_KEYS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class SpanPrediction:
    """The answer to one question.

    ``text``: the answer given ("" = no answer); ``best_span``: the best non-null span, whether or not
    it was given; ``null_score_diff``: null score minus the best span's score (what SQuAD v2.0 tunes a
    threshold on, the official script's ``na_prob``); +inf when no span was possible.
    """

    text: str
    best_span: str
    null_score_diff: float


def squad_example(row: dict) -> dict:
    """A Hub row of a SQuAD-schema dataset (squad, squad_v2, xquad, mlqa, tydiqa) as an example."""
    answers = row.get("answers") or {"text": [], "answer_start": []}
    return {
        "id": str(row["id"]),
        "title": str(row.get("title") or ""),
        "context": row["context"],
        "question": row["question"],
        "answers": {
            "text": [str(text) for text in answers["text"]],
            "answer_start": [int(start) for start in answers["answer_start"]],
        },
    }


def _squad_v1_evaluate(gold: dict, predictions: dict, language: str) -> dict:
    """``evaluate-v1.1.py``: the same for every language."""
    return squad.evaluate(gold, predictions)


# --- featurizing -------------------------------------------------------------------------------


def _window_stride(tokenizer, max_length: int, doc_stride: int) -> tuple[int, int]:
    """(question token limit, context tokens shared by neighbouring windows) for ``max_length``.

    At the paper's 384 tokens these are XTREME's 64 and 128; shorter windows (quick runs) scale them
    down so that every window keeps room for context beyond the shared part.
    """
    max_question = min(MAX_QUESTION_TOKENS, max_length // 4)
    room = max_length - max_question - tokenizer.num_special_tokens_to_add(pair=True)
    if max_question < 1 or room < 2:
        raise BadInput(f"max_length: {max_length} tokens leave no room for a question and its context")
    return max_question, min(doc_stride, room // 2)


def _cut_questions(questions: list[str], tokenizer, max_tokens: int) -> list[str]:
    """Questions without leading white space (HF run_qa: it wastes room and breaks some tokenizers),
    each cut after its first ``max_tokens`` tokens."""
    questions = [question.lstrip() for question in questions]
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    cut = []
    for question, offsets in zip(questions, encoded["offset_mapping"]):
        cut.append(question[: offsets[max_tokens - 1][1]] if len(offsets) > max_tokens else question)
    return cut


def _answer_tokens(offsets: list, sequence_ids: list, start_char: int, end_char: int) -> tuple[int, int]:
    """Start and end token of the characters [start_char, end_char) in one window; CLS when the window
    does not hold all of them (``prepare_train_features``)."""
    if 1 not in sequence_ids:  # an empty context
        return CLS_INDEX, CLS_INDEX
    first = sequence_ids.index(1)
    last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return CLS_INDEX, CLS_INDEX
    start = first
    while start <= last and offsets[start][0] <= start_char:
        start += 1
    end = last
    while end >= first and offsets[end][1] >= end_char:
        end -= 1
    return start - 1, end + 1


# --- post-processing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    score: float
    start_char: int
    end_char: int


def _window_spans(logits: np.ndarray, offsets: list, n_best: int, max_answer_tokens: int) -> list[_Span]:
    """Candidate spans of one window: n-best starts x n-best ends over its own tokens only (positions
    past its length are padding from the batch it ran in), both in the context."""
    length = len(offsets)
    start_logits, end_logits = logits[:length, 0], logits[:length, 1]
    starts = np.argsort(start_logits, kind="stable")[::-1][:n_best]
    ends = np.argsort(end_logits, kind="stable")[::-1][:n_best]
    spans = []
    for start in starts:
        if tuple(offsets[start]) == NOT_CONTEXT:
            continue
        for end in ends:
            if tuple(offsets[end]) == NOT_CONTEXT or end < start or end - start + 1 > max_answer_tokens:
                continue
            start_char, end_char = offsets[start][0], offsets[end][1]
            if end_char > start_char:  # tokens with empty offsets (e.g. some lone "▁") hold no text
                spans.append(_Span(float(start_logits[start] + end_logits[end]), start_char, end_char))
    return spans


class SpanQA(TaskFormat):
    """Span extraction, scored with SQuAD v1.1 EM/F1 (``evaluate-v1.1.py``) unless told otherwise.

    ``evaluate(gold, predictions, language)`` scores ``{key: gold answer texts}`` against
    ``{key: answer}`` on 0-100 (keys are example positions, so repeated question ids stay apart).
    """

    name = "span_qa"
    windows = True
    # answers are character offsets into the context: translating the text would break them
    text_fields = ("question", "context")
    default_max_length = defaults.QA_MAX_SEQ_LENGTH
    prediction_suffix = "json"

    def __init__(
        self,
        evaluate: Callable[[dict, dict, str], dict] | None = None,
        *,
        doc_stride: int = defaults.QA_DOC_STRIDE,
        n_best: int = N_BEST,
        max_answer_tokens: int = MAX_ANSWER_TOKENS,
    ):
        self.evaluate = evaluate or _squad_v1_evaluate
        self.doc_stride = doc_stride
        self.n_best = n_best
        self.max_answer_tokens = max_answer_tokens

    def featurize(self, examples, tokenizer, task, max_length):
        if not getattr(tokenizer, "is_fast", False):
            raise BadInput(
                f"model: {task.name} needs a fast tokenizer (offset mappings map answers back "
                f"to the context); {type(tokenizer).__name__} is not one"
            )
        max_question, stride = _window_stride(tokenizer, max_length, self.doc_stride)
        questions = _cut_questions(examples["question"], tokenizer, max_question)
        encoded = tokenizer(
            questions,
            examples["context"],
            truncation="only_second",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        features = {key: encoded[key] for key in ENCODER_KEYS if key in encoded}
        features.update(example_index=[], offset_mapping=[], start_positions=[], end_positions=[])
        for window, example in enumerate(encoded["overflow_to_sample_mapping"]):
            sequence_ids = encoded.sequence_ids(window)
            offsets = [
                tuple(offset) if sequence_id == 1 else NOT_CONTEXT
                for offset, sequence_id in zip(encoded["offset_mapping"][window], sequence_ids)
            ]
            answers = examples["answers"][example]
            if answers["answer_start"]:
                start_char = answers["answer_start"][0]
                start, end = _answer_tokens(offsets, sequence_ids, start_char, start_char + len(answers["text"][0]))
            else:
                start = end = CLS_INDEX
            features["example_index"].append(examples["example_index"][example])
            features["offset_mapping"].append(offsets)
            features["start_positions"].append(start)
            features["end_positions"].append(end)
        return features

    def collate(self, features, tokenizer):
        """Encoder inputs padded on the right (whatever the tokenizer's padding side), so token
        positions, labels and offsets keep their meaning; bookkeeping (offsets) stays out."""
        import torch  # in the methods that run a model only (see stilts.formats.base)

        longest = max(len(feature["input_ids"]) for feature in features)
        pad_values = {"input_ids": tokenizer.pad_token_id, "attention_mask": 0, "token_type_ids": 0}
        batch = {}
        for key, pad in pad_values.items():
            if key in features[0]:
                batch[key] = torch.tensor(
                    [feature[key] + [pad] * (longest - len(feature[key])) for feature in features], dtype=torch.long
                )
        if "start_positions" in features[0]:
            for key in ("start_positions", "end_positions"):
                batch[key] = torch.tensor([feature[key] for feature in features], dtype=torch.long)
        return batch

    def build_head(self, task, hidden_size):
        from stilts.formats.heads import SpanHead

        return SpanHead(hidden_size)

    hf_task_model = "AutoModelForQuestionAnswering"

    def export_head(self, head, task_model):
        copy_linear(head.qa_outputs, task_model.qa_outputs)

    def hf_logits(self, outputs):
        import torch

        return torch.stack([outputs.start_logits, outputs.end_logits], dim=-1)

    def forward(self, encoder, head, batch):
        """Outputs are (batch, tokens, 2): start and end logits per token."""
        from torch import nn

        states = encoder(**encoder_inputs(batch)).last_hidden_state
        logits = head(states)
        loss = None
        if "start_positions" in batch:
            start_logits, end_logits = logits.float().unbind(dim=-1)
            loss = (
                nn.functional.cross_entropy(start_logits, batch["start_positions"])
                + nn.functional.cross_entropy(end_logits, batch["end_positions"])
            ) / 2
        return loss, logits

    transfer_labels = "every token's state, marked as the answer's start, its end, or neither"

    def transfer_rows(self, encoder, batch):
        """Every token of each window (padding left out), with the window's answer start and end tokens,
        which the head is trained to point at (the first token where the answer is not in the window), as
        Poth et al. (2021) score QA with LogME."""
        states = encoder(**encoder_inputs(batch)).last_hidden_state
        mask = batch["attention_mask"].bool()
        lengths = mask.sum(dim=1).cpu().numpy()
        starts, ends = batch["start_positions"].cpu().numpy(), batch["end_positions"].cpu().numpy()
        return TransferRows(states[mask].float().cpu().numpy(), spans=(lengths, starts, ends))

    def predict(self, outputs, features, examples, task):
        windows: list[list[int]] = [[] for _ in examples]
        for feature_index, example_index in enumerate(features["example_index"]):
            windows[example_index].append(feature_index)
        all_offsets = features["offset_mapping"][:]  # one read, not one per window
        predictions = []
        for example, feature_indices in zip(examples, windows):
            spans: list[_Span] = []
            null_score = math.inf
            for feature_index in feature_indices:
                logits = np.asarray(outputs[feature_index])
                null_score = min(null_score, float(logits[CLS_INDEX, 0] + logits[CLS_INDEX, 1]))
                spans.extend(_window_spans(logits, all_offsets[feature_index], self.n_best, self.max_answer_tokens))
            predictions.append(self._choose(example["context"], spans, null_score))
        return predictions

    def _choose(self, context: str, spans: list[_Span], null_score: float) -> SpanPrediction:
        if not spans:
            return SpanPrediction("", "", math.inf)
        best = max(spans, key=lambda span: span.score)  # the first of equal scores, as sorted() keeps it
        text = context[best.start_char : best.end_char]
        return SpanPrediction(text, text, null_score - best.score)

    def constant_guesses(self, examples, task):
        """No answer to any question (SQuAD v1.1's F1 0; SQuAD v2.0's share of unanswerable questions):
        a constant span cannot be given, every question has its own context."""
        return [[SpanPrediction("", "", math.inf)] * len(examples)]

    def constant(self, predictions):
        """The answer text every question got ("" where none was answered)."""
        texts = {prediction.text for prediction in predictions}
        return next(iter(texts)) if len(texts) == 1 and len(predictions) > 1 else None

    def score(self, predictions, examples, task, language):
        gold = _gold(examples, task, allow_unanswerable=False)
        answers = {key: prediction.text for key, prediction in zip(gold, predictions)}
        return {
            key: value for key, value in self.evaluate(gold, answers, language).items() if key in ("exact_match", "f1")
        }

    def prediction_text(self, predictions, examples, task, state):
        return qa_json({example["id"]: prediction.text for example, prediction in zip(examples, predictions)})

    def example_rows(self, predictions, examples, task, language, state):
        """Per question, its EM and F1 as the official script scores it alone (the split's are means)."""
        rows = []
        for example, prediction in zip(examples, predictions):
            gold = list(example["answers"]["text"])
            scores = self.evaluate({"q": gold}, {"q": prediction.text}, language)
            rows.append(
                {
                    "id": example["id"],
                    "text": row_text(example, self.text_fields),
                    "gold": gold,
                    "prediction": prediction.text,
                    "metrics": {metric: [scores[metric] / 100.0, 1] for metric in ("exact_match", "f1")},
                }
            )
        return rows


class SpanQAWithNoAnswer(SpanQA):
    """SQuAD v2.0: the null answer competes with the best span; scored with ``evaluate-v2.0.py``,
    including the threshold search on ``null_score_diff`` (its ``--na-prob-file``). The best thresholds
    are reported beside the 0-100 scores (``best_f1_threshold``, in logit units); SQuAD v2.0 is an
    intermediate task, so they land in the validation history, not in scores.csv."""

    name = "span_qa_v2"

    def __init__(self, null_score_diff_threshold: float = 0.0, **settings):
        super().__init__(**settings)
        self.null_score_diff_threshold = null_score_diff_threshold

    def _choose(self, context, spans, null_score):
        prediction = super()._choose(context, spans, null_score)
        if prediction.null_score_diff > self.null_score_diff_threshold:
            return SpanPrediction("", prediction.best_span, prediction.null_score_diff)
        return prediction

    def score(self, predictions, examples, task, language):
        """EM/F1 at the format's threshold, HasAns/NoAns breakdowns, and the best thresholds.

        The official script gets the best span of every question as its prediction and the null
        score difference as ``na_prob``: applying the threshold there gives the answers ``predict``
        gave, and the threshold search can still answer questions that the threshold left open.
        """
        gold = _gold(examples, task, allow_unanswerable=True)
        best_spans = {key: prediction.best_span for key, prediction in zip(gold, predictions)}
        differences = {key: prediction.null_score_diff for key, prediction in zip(gold, predictions)}
        result = squad_v2.evaluate(gold, best_spans, differences, self.null_score_diff_threshold)
        return {key: float(value) for key, value in result.items() if not key.endswith("total")}

    def example_rows(self, predictions, examples, task, language, state):
        """Per question, evaluate-v2.0.py's raw EM and F1 of the answer given ("" for no answer)."""
        gold = {example["id"]: list(example["answers"]["text"]) for example in examples}
        exact, f1 = squad_v2.get_raw_scores(gold, {e["id"]: p.text for e, p in zip(examples, predictions)})
        return [
            {
                "id": example["id"],
                "text": row_text(example, self.text_fields),
                "gold": gold[example["id"]],
                "prediction": prediction.text,
                "metrics": {"exact_match": [exact[example["id"]], 1], "f1": [f1[example["id"]], 1]},
            }
            for example, prediction in zip(examples, predictions)
        ]


def _gold(examples: list[dict], task, *, allow_unanswerable: bool) -> dict[str, list[str]]:
    """Gold answer texts keyed by example position."""
    gold = {}
    for index, example in enumerate(examples):
        answers = list(example["answers"]["text"])
        if not answers and not allow_unanswerable:
            raise BadInput(
                f"data.{task.name}: question '{example['id']}' has no gold answer; {task.name} "
                f"is scored on answered questions only (XTREME's copies of test files have "
                f"their answers removed: use the original release files)"
            )
        gold[str(index)] = answers
    return gold


#: SQuAD v1.1 EM/F1: SQuAD v1.1, XQuAD, TyDiQA-GoldP (XTREME scores all three with evaluate_squad.py)
SPAN_QA = SpanQA()
#: the MLQA script's language-aware normalisation; the language is the context's
SPAN_QA_MLQA = SpanQA(evaluate=mlqa.evaluate)
#: SQuAD v2.0 with no-answer
SPAN_QA_NO_ANSWER = SpanQAWithNoAnswer()
