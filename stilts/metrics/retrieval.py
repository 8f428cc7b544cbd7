"""Retrieval scores: Tatoeba top-1 accuracy and BUCC 2018 mining P/R/F1, on a 0-100 scale.

BUCC follows XTREME's ``third_party/utils_retrieve.py`` (adapted from LASER's ``bucc.py``):
``candidate2score`` maps (source id, English id) to a margin score; ``bucc_optimize`` picks the
threshold with the best F1 against the gold pairs, ``bucc_extract`` keeps the candidates scoring at or
above it, and ``bucc_eval`` reports precision, recall and F1 of what was kept. Candidates are mapped
to ids through the sentence text (``read_sent2id``), so a sentence that occurs more than once on its
side has no id and its candidates are dropped (`sentence_to_id`, `drop_repeated_sentences`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

Pair = tuple[str, str]


def tatoeba_accuracy(predicted: Sequence[int], gold: Sequence[int] | None = None) -> float:
    """Top-1 accuracy (0-100) of retrieved target indices; by default the gold index of source i is i
    (LASER's aligned files)."""
    if gold is None:
        gold = range(len(predicted))
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} sentences")
    if not predicted:
        raise ValueError("no sentences")
    return 100.0 * sum(p == g for p, g in zip(predicted, gold)) / len(predicted)


def sentence_to_id(texts: Sequence[str], ids: Sequence[str]) -> dict[str, str]:
    """``read_sent2id``: stripped sentence -> its id, for the sentences that occur once on their side.
    A repeated sentence maps to no id: XTREME cannot tell which of its ids a mined pair meant."""
    counts = Counter(text.strip() for text in texts)
    return {text.strip(): sentence_id for text, sentence_id in zip(texts, ids) if counts[text.strip()] == 1}


def drop_repeated_sentences(
    candidate2score: Mapping[Pair, float], sources: Mapping[str, str], english: Mapping[str, str]
) -> dict[Pair, float]:
    """The candidates (source id, English id) whose two sentences (``{id: sentence}`` per side) each
    occur once on their side: what ``read_candidate2score`` keeps, by text, of the same pairs."""
    kept_sources = set(sentence_to_id(list(sources.values()), list(sources)).values())
    kept_english = set(sentence_to_id(list(english.values()), list(english)).values())
    return {
        pair: score for pair, score in candidate2score.items() if pair[0] in kept_sources and pair[1] in kept_english
    }


def bucc_optimize(candidate2score: Mapping[Pair, float], gold: set[Pair]) -> float:
    """``bucc_optimize``: walk the candidates from the best score down; at the best F1 so far, set the
    threshold halfway to the next candidate's score. (Where the official code would index past the end,
    i.e. the best F1 needs every candidate, the threshold is the last candidate's score.)"""
    items = sorted(candidate2score.items(), key=lambda item: -item[1])
    n_gold = len(gold)
    n_extracted = n_correct = 0
    threshold = 0.0
    best_f1 = 0.0
    for i, (pair, score) in enumerate(items):
        n_extracted += 1
        if pair in gold:
            n_correct += 1
        if n_correct > 0:
            precision = n_correct / n_extracted
            recall = n_correct / n_gold
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    return threshold


def bucc_extract(candidate2score: Mapping[Pair, float], threshold: float) -> set[Pair]:
    """``bucc_extract``: the candidate pairs scoring at least ``threshold``."""
    return {pair for pair, score in candidate2score.items() if score >= threshold}


def bucc_scores(
    candidate2score: Mapping[Pair, float], gold: set[Pair], threshold: float | None = None
) -> dict[str, float]:
    """``bucc_eval``: precision, recall and F1 (0-100) of the pairs mined at ``threshold``, or at the
    threshold ``bucc_optimize`` finds on ``gold`` when none is given; the threshold is reported."""
    if not gold:
        raise ValueError("no gold pairs")
    if threshold is None:
        threshold = bucc_optimize(candidate2score, gold)
    mined = bucc_extract(candidate2score, threshold)
    n_correct = len(gold & mined)
    if n_correct > 0:
        precision = n_correct / len(mined)
        recall = n_correct / len(gold)
        f1 = 2 * precision * recall / (precision + recall)
    else:
        precision = recall = f1 = 0.0
    return {"precision": 100.0 * precision, "recall": 100.0 * recall, "f1": 100.0 * f1, "threshold": float(threshold)}
