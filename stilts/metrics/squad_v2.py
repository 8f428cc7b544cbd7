"""SQuAD v2.0 EM / F1 with the semantics of the official ``evaluate-v2.0.py``.

- ``gold`` maps a question id to its gold answer texts; an empty list = unanswerable (HasAns/NoAns
  come from ``make_qid_to_has_ans``). An empty prediction string means "no answer".
- With ``na_probs`` (the model's no-answer probability per question), a question whose probability is
  above ``na_prob_thresh`` counts as answered "no answer" (``apply_no_ans_threshold``), and the best
  threshold for EM and for F1 is searched (``find_best_thresh``).

Scores are on a 0-100 scale; keys: ``exact_match``, ``f1``, ``total``, then ``has_ans_*`` /
``no_ans_*`` breakdowns and, with ``na_probs``, ``best_exact_match``, ``best_exact_match_threshold``,
``best_f1``, ``best_f1_threshold``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from stilts.metrics.squad import normalize_answer  # identical in v2.0 (it only adds re.UNICODE)


def get_tokens(s: str) -> list[str]:
    """``get_tokens``."""
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold: str, a_pred: str) -> int:
    """``compute_exact``."""
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    """``compute_f1``: if either side is no-answer, 1 when both are, else 0."""
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return float(gold_toks == pred_toks)
    common = Counter(gold_toks) & Counter(pred_toks)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def get_raw_scores(
    gold: Mapping[str, Sequence[str]], predictions: Mapping[str, str]
) -> tuple[dict[str, float], dict[str, float]]:
    """``get_raw_scores``: per-question EM and F1, max over gold answers; the only right answer to an
    unanswerable question (or one whose answers all normalise to nothing) is the empty string."""
    exact_scores: dict[str, float] = {}
    f1_scores: dict[str, float] = {}
    for question_id, answers in gold.items():
        gold_answers = [a for a in answers if normalize_answer(a)] or [""]
        prediction = predictions[question_id]
        exact_scores[question_id] = max(compute_exact(a, prediction) for a in gold_answers)
        f1_scores[question_id] = max(compute_f1(a, prediction) for a in gold_answers)
    return exact_scores, f1_scores


def apply_no_ans_threshold(
    scores: Mapping[str, float],
    na_probs: Mapping[str, float],
    qid_to_has_ans: Mapping[str, bool],
    na_prob_thresh: float,
) -> dict[str, float]:
    """``apply_no_ans_threshold``."""
    new_scores = {}
    for question_id, score in scores.items():
        if na_probs[question_id] > na_prob_thresh:
            new_scores[question_id] = float(not qid_to_has_ans[question_id])
        else:
            new_scores[question_id] = score
    return new_scores


def _eval_dict(exact: Mapping[str, float], f1: Mapping[str, float], ids: Sequence[str]) -> dict:
    """``make_eval_dict``."""
    total = len(ids)
    return {
        "exact_match": 100.0 * sum(exact[k] for k in ids) / total,
        "f1": 100.0 * sum(f1[k] for k in ids) / total,
        "total": total,
    }


def find_best_thresh(
    predictions: Mapping[str, str],
    scores: Mapping[str, float],
    na_probs: Mapping[str, float],
    qid_to_has_ans: Mapping[str, bool],
) -> tuple[float, float]:
    """``find_best_thresh``: walk the questions by increasing no-answer probability (ties in the order
    of ``na_probs``), answering each in turn instead of abstaining; return (best score 0-100, the
    probability threshold reaching it)."""
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    # counts of right answers, to which a partly right answer adds its F1
    cur_score: float = num_no_ans
    best_score: float = num_no_ans
    best_thresh = 0.0
    for question_id in sorted(na_probs, key=lambda k: na_probs[k]):
        if question_id not in scores:
            continue
        if qid_to_has_ans[question_id]:
            diff = scores[question_id]
        else:
            diff = -1 if predictions[question_id] else 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[question_id]
    return 100.0 * best_score / len(scores), best_thresh


def evaluate(
    gold: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_prob_thresh: float = 1.0,
) -> dict:
    """The official script's ``main``. Every gold question needs a prediction (the script fails on a
    missing one in the HasAns/NoAns breakdown); ``na_probs``, when given, needs every id too."""
    if not gold:
        raise ValueError("no gold questions")
    missing = [k for k in gold if k not in predictions]
    if missing:
        raise ValueError(f"no prediction for question '{missing[0]}' ({len(missing)} missing)")
    if na_probs is not None:
        missing = [k for k in gold if k not in na_probs]
        if missing:
            raise ValueError(f"no no-answer probability for question '{missing[0]}' ({len(missing)} missing)")
    qid_to_has_ans = {k: bool(answers) for k, answers in gold.items()}
    exact_raw, f1_raw = get_raw_scores(gold, predictions)
    probs = na_probs if na_probs is not None else {k: 0.0 for k in gold}
    exact = apply_no_ans_threshold(exact_raw, probs, qid_to_has_ans, na_prob_thresh)
    f1 = apply_no_ans_threshold(f1_raw, probs, qid_to_has_ans, na_prob_thresh)
    result = _eval_dict(exact, f1, list(gold))
    for prefix, wanted in (("has_ans", True), ("no_ans", False)):
        ids = [k for k, has_answer in qid_to_has_ans.items() if has_answer == wanted]
        if ids:
            result.update({f"{prefix}_{key}": value for key, value in _eval_dict(exact, f1, ids).items()})
    if na_probs is not None:
        # find_all_best_thresh; only gold questions take part. The official script walks
        # sorted(na_probs, key=na_probs.get), a stable sort: equal probabilities keep the order of
        # the probability file (its dict), which decides where the best threshold falls.
        probs_in_gold = {k: p for k, p in na_probs.items() if k in gold}
        result["best_exact_match"], result["best_exact_match_threshold"] = find_best_thresh(
            predictions, exact_raw, probs_in_gold, qid_to_has_ans
        )
        result["best_f1"], result["best_f1_threshold"] = find_best_thresh(
            predictions, f1_raw, probs_in_gold, qid_to_has_ans
        )
    return result
