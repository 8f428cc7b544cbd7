"""Sentence retrieval from pooled encoder states: Tatoeba (nearest neighbour) and BUCC (bitext mining).

Neither task trains (``trains = False``): the encoder of the stage before the evaluation is used
directly, as the paper does (Phang et al. 2020, App. A.2, following XTREME's sample implementation).

Representation. A sentence is tokenized with the encoder's special tokens and its vector is the
``hidden_states[layer]`` of the Hugging Face encoder, mean-pooled over the non-padding tokens
(special tokens included, as XTREME's ``mean_pool_embedding`` with its attention mask) or the first
token's state (``pooling: cls``). The index base is Hugging Face's: 0 is the embedding output, N the
last of N transformer layers. The paper's "13th layer" of XLM-R large is item 13 (0-based) of XTREME's
24 transformer-layer outputs, i.e. ``hidden_states[14]`` (docs/tasks.md, "Retrieval representation").

Similarity search is done in chunks of query rows (`knn`), so two sides of 100k sentences each never
build the full 100k x 100k matrix; each chunk keeps only its top-k (``torch.topk``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from stilts.core.errors import BadInput
from stilts.formats.base import TaskFormat, encoder_inputs, pad_right
from stilts.metrics.per_example import chunk_counts, example_id, right, row_text
from stilts.metrics.predictions import pair_lines, value_lines
from stilts.metrics.retrieval import (
    bucc_extract,
    bucc_optimize,
    bucc_scores,
    sentence_to_id,
    tatoeba_accuracy,
)

if TYPE_CHECKING:
    import torch

# --- which hidden state -------------------------------------------------------------------------

#: hidden_states index per encoder depth where a published setup fixes it. 24 layers: the paper's
#: "layer 13" of XLM-R large (XTREME run_tatoeba.sh LAYER=13 over the 24 layer outputs) = hidden_states[14].
#: 12 layers: XTREME's LAYER=7 for mBERT = hidden_states[8].
PUBLISHED_LAYERS = {24: 14, 12: 8}
#: other depths keep the paper's relative depth, rounded up: ceil(N * 14 / 24) (6 layers -> 4, 2 -> 2)
PAPER_RELATIVE_DEPTH = 14 / 24
#: XTREME's retrieval scripts use MAXL=512
RETRIEVAL_MAX_LENGTH = 512
#: k nearest neighbours for the margin (XTREME/LASER mine_bitext ``neighborhood=4``)
BUCC_NEIGHBOURHOOD = 4
#: the split whose gold pairs choose the BUCC threshold; later splits of the language apply it
BUCC_THRESHOLD_SPLIT = "dev"
#: how many similarity values one chunk may hold (2^26 float32 = 256 MiB) when no chunk size is given
MAX_CHUNK_ELEMENTS = 2**26

_ENCODER_KEYS = ("input_ids", "attention_mask", "token_type_ids")
SOURCE, ENGLISH = 0, 1


def default_layer(num_layers: int) -> int:
    """The hidden_states index pooled when an evaluate stage does not name one."""
    if num_layers in PUBLISHED_LAYERS:
        return PUBLISHED_LAYERS[num_layers]
    return max(1, min(num_layers, math.ceil(num_layers * PAPER_RELATIVE_DEPTH)))


# --- chunked similarity search -------------------------------------------------------------------


def _chunk_rows(columns: int, chunk_size: int | None) -> int:
    return chunk_size or max(1, MAX_CHUNK_ELEMENTS // max(1, columns))


def knn(x: torch.Tensor, y: torch.Tensor, k: int, *, both: bool = False, chunk_size: int | None = None):
    """Top-k inner products between the rows of ``x`` (n x d) and ``y`` (m x d), in chunks of x rows.

    Returns ``(x2y_sim, x2y_ind)`` (n x min(k, m): each x row's best y rows, best first) and, with
    ``both``, also ``(y2x_sim, y2x_ind)`` (m x min(k, n)), from the same chunks: each chunk's
    column-wise top-k is merged into a running top-k, so both directions cost one pass. At most
    ``chunk_size`` x m similarities exist at a time (default: 2^26 values).
    """
    import torch  # in the functions that run a model or search only (see stilts.formats.base)

    n, m = x.shape[0], y.shape[0]
    kx, ky = min(k, m), min(k, n)
    rows = _chunk_rows(m, chunk_size)
    x2y_sim = torch.empty((n, kx), dtype=x.dtype, device=x.device)
    x2y_ind = torch.empty((n, kx), dtype=torch.long, device=x.device)
    # with ``both``: the running column-wise top-k, (similarities, x row indices), merged chunk by chunk
    columns = (
        (
            torch.full((ky, m), -math.inf, dtype=x.dtype, device=x.device),
            torch.zeros((ky, m), dtype=torch.long, device=x.device),
        )
        if both
        else None
    )
    y_t = y.T
    for start in range(0, n, rows):
        block = x[start : start + rows] @ y_t
        x2y_sim[start : start + rows], x2y_ind[start : start + rows] = block.topk(kx, dim=1)
        if columns is not None:
            sim, ind = block.topk(min(ky, block.shape[0]), dim=0)
            merged_sim, merged_ind = torch.cat((columns[0], sim)), torch.cat((columns[1], ind + start))
            col_sim, position = merged_sim.topk(ky, dim=0)
            columns = (col_sim, merged_ind.gather(0, position))
        del block
    if columns is not None:
        return x2y_sim, x2y_ind, columns[0].T.contiguous(), columns[1].T.contiguous()
    return x2y_sim, x2y_ind


def _unit_rows(vectors, device) -> torch.Tensor:
    import torch

    tensor = torch.as_tensor(np.asarray(vectors, dtype=np.float32), device=device)
    return torch.nn.functional.normalize(tensor, dim=1)


def search_device() -> torch.device:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def nearest_neighbours(queries, database, *, chunk_size: int | None = None) -> list[int]:
    """For each query row, the index of the database row with the highest cosine similarity."""
    device = search_device()
    _, index = knn(_unit_rows(queries, device), _unit_rows(database, device), 1, chunk_size=chunk_size)
    return index[:, 0].cpu().tolist()


def mine_candidates(
    x, y, *, neighbourhood: int = BUCC_NEIGHBOURHOOD, threshold: float = 0.0, chunk_size: int | None = None
) -> list[tuple[int, int, float]]:
    """XTREME's ``mine_bitext`` (LASER, ``mode='mine'``, ``retrieval='max'``, ``margin='ratio'``,
    cosine) on two embedding matrices: ``(x row, y row, margin score)`` of the mined pairs, best first.

    Embeddings are L2-normalised; ``k = neighbourhood`` nearest neighbours are found in both
    directions; a pair scores ``cos(x, y) / ((mean knn sim of x + mean knn sim of y) / 2)``; every x
    proposes its best-scoring neighbour (forward) and every y its own (backward); candidates are taken
    best first, skipping any whose x or y is already taken, and kept when the score exceeds
    ``threshold`` (``mine_bitext``'s default 0).
    """
    import torch

    device = search_device()
    x, y = _unit_rows(x, device), _unit_rows(y, device)
    x2y_sim, x2y_ind, y2x_sim, y2x_ind = knn(x, y, neighbourhood, both=True, chunk_size=chunk_size)
    x2y_mean, y2x_mean = x2y_sim.mean(dim=1), y2x_sim.mean(dim=1)
    fwd_scores = x2y_sim / ((x2y_mean[:, None] + y2x_mean[x2y_ind]) / 2)
    bwd_scores = y2x_sim / ((y2x_mean[:, None] + x2y_mean[y2x_ind]) / 2)
    fwd_score, fwd_pos = fwd_scores.max(dim=1)
    bwd_score, bwd_pos = bwd_scores.max(dim=1)
    fwd_best = x2y_ind.gather(1, fwd_pos[:, None])[:, 0]
    bwd_best = y2x_ind.gather(1, bwd_pos[:, None])[:, 0]
    sources = torch.cat((torch.arange(x.shape[0], device=device), bwd_best)).cpu().numpy()
    targets = torch.cat((fwd_best, torch.arange(y.shape[0], device=device))).cpu().numpy()
    scores = torch.cat((fwd_score, bwd_score)).double().cpu().numpy()
    mined, seen_x, seen_y = [], set(), set()
    for i in np.argsort(-scores, kind="stable"):
        source, target = int(sources[i]), int(targets[i])
        if source in seen_x or target in seen_y:
            continue
        seen_x.add(source)
        seen_y.add(target)
        if scores[i] > threshold:
            mined.append((source, target, float(scores[i])))
    return mined


def bucc_candidate_scores(
    source_vectors,
    source_texts: Sequence[str],
    source_ids: Sequence[str],
    english_vectors,
    english_texts: Sequence[str],
    english_ids: Sequence[str],
    *,
    chunk_size: int | None = None,
) -> dict[tuple[str, str], float]:
    """``candidate2score`` as XTREME builds it for ``bucc_eval``: (source id, English id) -> margin.

    As in XTREME, identical sentences of a side are embedded once (``text_load_unify``) and mined
    pairs are mapped back to ids through the sentence text (``read_sent2id``), so a sentence that
    occurs more than once on its side (after stripping) has no id and its candidates are dropped.
    """
    x_rows, x_texts = _unique_rows(source_texts)
    y_rows, y_texts = _unique_rows(english_texts)
    x = np.asarray(source_vectors, dtype=np.float32)[x_rows]
    y = np.asarray(english_vectors, dtype=np.float32)[y_rows]
    source_id, english_id = sentence_to_id(source_texts, source_ids), sentence_to_id(english_texts, english_ids)
    candidates: dict[tuple[str, str], float] = {}
    for i, j, score in mine_candidates(x, y, chunk_size=chunk_size):
        source, english = source_id.get(x_texts[i].strip()), english_id.get(y_texts[j].strip())
        if source is not None and english is not None:
            pair = (source, english)
            candidates[pair] = max(score, candidates.get(pair, score))
    return candidates


def _unique_rows(texts: Sequence[str]) -> tuple[list[int], list[str]]:
    first: dict[str, int] = {}
    for row, text in enumerate(texts):
        first.setdefault(text, row)
    return list(first.values()), list(first)


# --- task formats -------------------------------------------------------------------------------


class PooledSentences(TaskFormat):
    """Sentence vectors from one hidden layer of the encoder; no head, no training."""

    trains = False
    default_max_length = RETRIEVAL_MAX_LENGTH
    #: hidden_states index (0 = embedding output); None = `default_layer` of the encoder's depth
    layer: int | None = None
    pooling: str = "mean"

    def for_evaluation(self, settings: dict) -> PooledSentences:
        configured = copy.copy(self)
        configured.layer = settings.get("layer")
        configured.pooling = settings.get("pooling") or "mean"
        return configured

    def resolved_layer(self, encoder) -> int:
        num_layers = encoder.config.num_hidden_layers
        if self.layer is None:
            return default_layer(num_layers)
        if self.layer > num_layers:
            raise BadInput(
                f"evaluate.layer: {self.layer} is past the last layer of a {num_layers}-layer "
                f"encoder (hidden_states 0..{num_layers}, 0 = the embedding output)"
            )
        return self.layer

    def _tokenize(self, texts: list[str], tokenizer, max_length: int) -> dict[str, list]:
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
        return {key: encoded[key] for key in _ENCODER_KEYS if key in encoded}

    def collate(self, features, tokenizer):
        inputs = [{key: value for key, value in feature.items() if key in _ENCODER_KEYS} for feature in features]
        return pad_right(tokenizer, inputs)

    def build_head(self, task, hidden_size):
        raise TypeError(f"{self.name} has no head: it pools the encoder's states")

    def forward(self, encoder, head, batch):
        inputs = encoder_inputs(batch)
        states = encoder(**inputs, output_hidden_states=True).hidden_states[self.resolved_layer(encoder)]
        if self.pooling == "cls":
            return None, states[:, 0]
        mask = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)
        return None, (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)

    @staticmethod
    def _vectors_by_example(outputs, features, count: int, side: int | None = None) -> np.ndarray:
        """(count x dim) matrix of the feature vectors of one side (or of all features), by example."""
        example_indices = list(features["example_index"])
        positions = (
            range(len(example_indices))
            if side is None
            else [position for position, its_side in enumerate(features["side"]) if its_side == side]
        )
        matrix = np.zeros((count, len(outputs[0])), dtype=np.float32)
        for position in positions:
            matrix[example_indices[position]] = outputs[position]
        return matrix


class SentenceRetrieval(PooledSentences):
    """Tatoeba: examples ``{"id", "text_a": non-English sentence, "text_b": its English translation}``.

    Each English sentence retrieves the non-English sentence with the highest cosine similarity among
    all of the language's sentences, as XTREME and jiant do (a faiss index over the non-English side,
    queried with the English side); a retrieval is right when it finds its own pair. Score: top-1
    accuracy.
    """

    name = "retrieval"
    text_fields = ("text_a", "text_b")

    def featurize(self, examples, tokenizer, task, max_length):
        count = len(examples["text_a"])
        features = self._tokenize(list(examples["text_a"]) + list(examples["text_b"]), tokenizer, max_length)
        features["side"] = [SOURCE] * count + [ENGLISH] * count
        features["example_index"] = list(examples["example_index"]) * 2
        return features

    def predict(self, outputs, features, examples, task):
        """For each example, the index of the example whose non-English sentence its English one finds."""
        source = self._vectors_by_example(outputs, features, len(examples), SOURCE)
        english = self._vectors_by_example(outputs, features, len(examples), ENGLISH)
        return nearest_neighbours(english, source)

    def constant_guesses(self, examples, task):
        """Every English sentence finding the first sentence (a collapsed embedding space): 1/n."""
        return [[0] * len(examples)]

    def score(self, predictions, examples, task, language):
        return {"accuracy": tatoeba_accuracy(predictions)}

    def prediction_text(self, predictions, examples, task, state):
        return value_lines(predictions)

    def example_rows(self, predictions, examples, task, language, state):
        return [
            {
                "id": example_id(example, index),
                "text": row_text(example, self.text_fields),
                "gold": index,
                "prediction": found,
                "metrics": {"accuracy": right(found == index)},
            }
            for index, (found, example) in enumerate(zip(predictions, examples))
        ]


class SentenceVectors(list):
    """BUCC's predictions of a split: its examples' sentence vectors, in example order, and the
    candidates mined from them once they are (``mined``, a candidate2score)."""

    mined: dict | None = None


class BitextMining(PooledSentences):
    """BUCC 2018: one example per sentence, ``{"id", "text", "side": "source" | "english", "gold": [ids
    of the English sentences it is paired with]}`` (empty on the English side).

    Pairs are mined as XTREME does (`bucc_candidate_scores`); the threshold on the margin is the one
    that maximises F1 on the dev gold pairs of the language and the test split applies it (the
    paper's protocol; XTREME itself re-optimises on whatever gold it is given). The dev score is
    therefore at its own best threshold, which the stage's metrics.json records under ``state``.
    """

    name = "bitext_mining"
    text_fields = ("text",)

    def featurize(self, examples, tokenizer, task, max_length):
        return self._tokenize(list(examples["text"]), tokenizer, max_length)

    def predict(self, outputs, features, examples, task):
        """Each example's sentence vector."""
        return SentenceVectors(self._vectors_by_example(outputs, features, len(examples)))

    def constant(self, predictions):
        """Predictions here are sentence vectors; what is mined from them depends on a threshold."""
        return None

    @staticmethod
    def mined_candidates(predictions, examples) -> dict:
        """candidate2score of the examples' sentences (`bucc_candidate_scores`); no gold needed. Mined
        once per `SentenceVectors`: the score, the prediction file and the per-sentence rows of a
        split all read the same candidates."""
        mined = getattr(predictions, "mined", None)
        if mined is None:
            mined = BitextMining._mine(predictions, examples)
            if isinstance(predictions, SentenceVectors):
                predictions.mined = mined
        return mined

    @staticmethod
    def _mine(predictions, examples) -> dict:
        sides: dict[str, tuple[list, list, list]] = {"source": ([], [], []), "english": ([], [], [])}
        for vector, example in zip(predictions, examples):
            vectors, texts, ids = sides[example["side"]]
            vectors.append(vector)
            texts.append(example["text"])
            ids.append(example["id"])
        if not sides["source"][0] or not sides["english"][0]:
            raise BadInput("bucc: the examples need sentences of both sides (is max_examples too small?)")
        return bucc_candidate_scores(*sides["source"], *sides["english"])

    def candidates(self, predictions, examples) -> tuple[dict, set]:
        """(candidate2score, gold pairs whose two sentences are both among the examples)."""
        candidates = self.mined_candidates(predictions, examples)
        english_ids = {example["id"] for example in examples if example["side"] == "english"}
        gold = {
            (example["id"], english)
            for example in examples
            if example["side"] == "source"
            for english in example["gold"]
            if english in english_ids
        }
        if not gold:
            raise BadInput("bucc: no gold pair has both sentences among the examples (is max_examples too small?)")
        return candidates, gold

    def score(self, predictions, examples, task, language):
        """P/R/F1 at the threshold that is best on these examples' own gold pairs."""
        candidates, gold = self.candidates(predictions, examples)
        return _prf(bucc_scores(candidates, gold))

    def score_split(self, predictions, examples, task, language, split, state):
        candidates, gold = self.candidates(predictions, examples)
        if split == BUCC_THRESHOLD_SPLIT:
            state["threshold"] = float(bucc_optimize(candidates, gold))
            state["threshold_from"] = split
            how = f"threshold chosen on {split} to maximise F1"
        elif "threshold" in state:
            how = f"threshold from {state['threshold_from']}"
        else:
            raise BadInput(
                f"{task.name} {split} ({language}): no threshold; the {BUCC_THRESHOLD_SPLIT} "
                f"split of '{language}' chooses it and must be evaluated first (add it to splits, "
                f"before {split}, and give its files)"
            )
        state.setdefault("splits", {})[split] = how
        return _prf(bucc_scores(candidates, gold, state["threshold"]))

    @staticmethod
    def _threshold(state: dict, task) -> float:
        if "threshold" not in state:
            raise BadInput(
                f"{task.name}: no mining threshold; it is chosen on the {BUCC_THRESHOLD_SPLIT} split of the "
                f"language, which must be scored first"
            )
        return state["threshold"]

    def prediction_text(self, predictions, examples, task, state):
        """The pairs mined at the language's threshold (XTREME's submission: ``source_id<TAB>english_id``)."""
        mined = bucc_extract(self.mined_candidates(predictions, examples), self._threshold(state, task))
        return pair_lines(sorted(mined))

    def example_rows(self, predictions, examples, task, language, state):
        """One row per source sentence that has a gold pair or a mined one: its pairs' counts."""
        candidates, gold = self.candidates(predictions, examples)
        mined = bucc_extract(candidates, self._threshold(state, task))
        sentences = {example["id"]: example["text"] for example in examples if example["side"] == "source"}
        by_source: dict[str, tuple[set, set]] = {}
        for pairs, position in ((gold, 0), (mined, 1)):
            for source, english in pairs:
                by_source.setdefault(source, (set(), set()))[position].add(english)
        return [
            {
                "id": source,
                "text": {"text": sentences.get(source)},
                "gold": sorted(gold_english),
                "prediction": sorted(mined_english),
                "metrics": chunk_counts(len(gold_english & mined_english), len(mined_english), len(gold_english)),
            }
            for source, (gold_english, mined_english) in sorted(by_source.items())
        ]


def _prf(scores: dict[str, float]) -> dict[str, float]:
    """The scores.csv metrics (0-100); the threshold is a margin, not a percentage, and stays out."""
    return {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"]}


RETRIEVAL = SentenceRetrieval()
BITEXT_MINING = BitextMining()
