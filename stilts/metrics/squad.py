"""SQuAD v1.1 EM / F1 with the official ``evaluate-v1.1.py`` semantics (XQuAD and TyDiQA-GoldP are
scored with it too: XTREME ``evaluate.py`` uses ``third_party/evaluate_squad.py``, a copy of it).

``gold`` maps a question id to its gold answer texts; ``predictions`` maps ids to answer strings.
Scores are on a 0-100 scale.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """``normalize_answer``: lower text and remove punctuation, articles and extra whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCTUATION)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def f1_score(prediction: str, ground_truth: str) -> float:
    """``f1_score``: bag-of-tokens F1 of the normalised strings (0-1)."""
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(ground_truth_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """``exact_match_score``."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def metric_max_over_ground_truths(
    metric_fn: Callable[[str, str], float], prediction: str, ground_truths: Sequence[str]
) -> float:
    """``metric_max_over_ground_truths``: the best score against any gold answer."""
    return max(metric_fn(prediction, ground_truth) for ground_truth in ground_truths)


def evaluate(gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str]) -> dict[str, float]:
    """``evaluate``: mean EM and F1 over all gold questions; a question without a prediction scores 0
    (the official script prints "Unanswered question ... will receive score 0")."""
    if not gold:
        raise ValueError("no gold questions")
    exact_match = f1 = 0.0
    for question_id, ground_truths in gold.items():
        if not ground_truths:
            raise ValueError(f"question '{question_id}' has no gold answer")
        if question_id not in predictions:
            continue
        prediction = predictions[question_id]
        exact_match += metric_max_over_ground_truths(exact_match_score, prediction, ground_truths)
        f1 += metric_max_over_ground_truths(f1_score, prediction, ground_truths)
    return {"exact_match": 100.0 * exact_match / len(gold), "f1": 100.0 * f1 / len(gold)}
