"""Tagging scores: seqeval P/R/F1 as XTREME's ``evaluate.py`` computes them for PAN-X and UD-POS,
plus token accuracy.

XTREME scores BOTH tagging tasks with ``evaluate.f1`` = seqeval ``f1_score`` / ``precision_score`` /
``recall_score`` on the raw tag sequences (``METRIC_FUNCTION = {'panx': f1, 'udpos': f1, ...}``). On
UPOS tags that is a chunk F1, not accuracy: seqeval reads ``NOUN`` as chunk tag ``N`` of type ``NOUN``,
so a run of equal tags is one chunk, and ``SCONJ``/``SYM`` (tag ``S``) and ``INTJ`` (tag ``I``) follow
the S/I chunking rules. XTREME (2020) ran seqeval 0.0.x, which takes the type as ``tag.split('-')[-1]``;
seqeval >= 1.0 takes ``tag[1:]`` instead, which e.g. merges CCONJ and SCONJ into one type ``CONJ``.
``to_seqeval_0_0_tags`` rewrites every tag to ``{first letter}-{0.0.x type}``, which current seqeval
parses exactly as 0.0.x parsed the raw tag, so the published numbers' semantics hold with any
seqeval. For IOB2 NER tags the rewrite changes nothing (``B-PER`` stays ``B-PER``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence


def to_seqeval_0_0_tags(tags: Sequence[str]) -> list[str]:
    """``NOUN`` -> ``N-NOUN``, ``B-PER`` -> ``B-PER``, ``O`` -> ``O-O`` (module docstring)."""
    return [f"{tag[0]}-{tag.split('-')[-1]}" if tag else tag for tag in tags]


def _check_shapes(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(predicted)} predicted sentences for {len(gold)} gold sentences")
    for i, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(p)} predicted tags for {len(g)} gold tokens")


def seqeval_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """XTREME ``evaluate.f1``: seqeval micro precision, recall and F1 (0-100), default (conlleval-like)
    chunking, sentences concatenated as seqeval does."""
    # imported here: seqeval imports scikit-learn, which takes a second
    from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

    _check_shapes(gold, predicted)
    y_true = [to_seqeval_0_0_tags(sentence) for sentence in gold]
    y_pred = [to_seqeval_0_0_tags(sentence) for sentence in predicted]
    with warnings.catch_warnings():  # "NOUN seems not to be NE tag", zero-division notices
        warnings.simplefilter("ignore")
        # what precision_score, recall_score and f1_score each return, in one pass over the tags
        precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average="micro")
    return {"precision": 100.0 * float(precision), "recall": 100.0 * float(recall), "f1": 100.0 * float(f1)}


def sentence_chunk_counts(gold: Sequence[str], predicted: Sequence[str]) -> tuple[int, int, int]:
    """(true positive, predicted, gold) chunks of one sentence, as `seqeval_scores` counts them: seqeval
    ends every chunk at a sentence's end, so the counts of a split are the sums of its sentences'."""
    from seqeval.metrics.sequence_labeling import get_entities

    if len(gold) != len(predicted):
        raise ValueError(f"{len(predicted)} predicted tags for {len(gold)} gold tokens")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gold_chunks = set(get_entities(to_seqeval_0_0_tags(gold)))
        predicted_chunks = set(get_entities(to_seqeval_0_0_tags(predicted)))
    return len(gold_chunks & predicted_chunks), len(predicted_chunks), len(gold_chunks)


def token_accuracy(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Share of tokens whose predicted tag is the gold tag (0-100): the usual POS metric (XGLUE)."""
    _check_shapes(gold, predicted)
    total = sum(len(sentence) for sentence in gold)
    if total == 0:
        raise ValueError("no tokens")
    correct = sum(g == p for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps))
    return 100.0 * correct / total


def ner_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """PAN-X: entity-level P/R/F1 of IOB2 tags (seqeval)."""
    return seqeval_scores(gold, predicted)


def pos_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """UD-POS: XTREME's seqeval P/R/F1 on UPOS tags (the headline metric, ``f1``) and token accuracy."""
    return {**seqeval_scores(gold, predicted), "accuracy": token_accuracy(gold, predicted)}
