"""MLQA EM / F1 with the semantics of the official ``mlqa_evaluation_v1.py`` (XTREME
``third_party/evaluate_mlqa.py`` is a copy of it).

Differences from SQuAD v1.1, all in ``normalize_answer(s, lang)``:
- punctuation = every Unicode character of category P* plus ``string.punctuation``;
- articles removed per language: en (a, an, the), es (un una unos unas el la los las), de (ein eine
  einen einem eines einer der die das den dem des), vi (của là cái chiếc những), ar (every ``ال``,
  wherever it occurs); hi and zh have none;
- zh is split by ``mixed_segmentation``: every CJK character (U+4E00-U+9FA5) is a token of its own,
  runs of other characters are split on whitespace.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence

from stilts.metrics.squad import metric_max_over_ground_truths

WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
MIXED_SEGMENTATION_LANGS = ("zh",)
MLQA_LANGUAGES = WHITESPACE_LANGS + MIXED_SEGMENTATION_LANGS

_ASCII_PUNCTUATION = set(string.punctuation)
_CJK = re.compile(r"[\u4e00-\u9fa5]")
_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"\sال^|ال"),  # as in the script: in effect removes every "ال"
}


def is_punctuation(char: str) -> bool:
    """Membership in the script's ``PUNCT`` set (categories P* and ``string.punctuation``), without
    building the set over all of Unicode."""
    return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def _check_language(lang: str) -> None:
    if lang not in MLQA_LANGUAGES:
        raise ValueError(f"Unknown Language {lang} (MLQA languages: {', '.join(MLQA_LANGUAGES)})")


def mixed_segmentation(text: str) -> list[str]:
    """``mixed_segmentation``: CJK characters and punctuation become single tokens."""
    segments: list[str] = []
    pending = ""
    for char in text:
        if _CJK.search(char) or is_punctuation(char):
            if pending:
                segments.extend(pending.split())
                pending = ""
            segments.append(char)
        else:
            pending += char
    if pending:
        segments.extend(pending.split())
    return segments


def normalize_answer(s: str, lang: str) -> str:
    """``normalize_answer(s, lang)``: lower, remove punctuation, remove articles, fix whitespace."""
    _check_language(lang)
    text = s.lower()
    text = "".join(ch for ch in text if not is_punctuation(ch))
    if lang in _ARTICLES:
        text = _ARTICLES[lang].sub(" ", text)
    tokens = mixed_segmentation(text) if lang in MIXED_SEGMENTATION_LANGS else text.split()
    return " ".join(t for t in tokens if t.strip() != "")


def f1_score(prediction: str, ground_truth: str, lang: str) -> float:
    """``f1_score`` (0-1)."""
    prediction_tokens = normalize_answer(prediction, lang).split()
    ground_truth_tokens = normalize_answer(ground_truth, lang).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(ground_truth_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, ground_truth: str, lang: str) -> bool:
    """``exact_match_score``."""
    return normalize_answer(prediction, lang) == normalize_answer(ground_truth, lang)


def evaluate(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str], lang: str) -> dict[str, float]:
    """``evaluate(dataset, predictions, lang)``: mean EM and F1 (0-100); ``lang`` is the answer
    (context) language. A question without a prediction scores 0, as in the script."""
    _check_language(lang)
    if not gold:
        raise ValueError("no gold questions")
    exact_match = f1 = 0.0
    for question_id, ground_truths in gold.items():
        if not ground_truths:
            raise ValueError(f"question '{question_id}' has no gold answer")
        if question_id not in predictions:
            continue
        prediction = predictions[question_id]
        exact_match += metric_max_over_ground_truths(
            lambda p, g: exact_match_score(p, g, lang), prediction, ground_truths
        )
        f1 += metric_max_over_ground_truths(lambda p, g: f1_score(p, g, lang), prediction, ground_truths)
    return {"exact_match": 100.0 * exact_match / len(gold), "f1": 100.0 * f1 / len(gold)}
