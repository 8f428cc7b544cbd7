"""Sentence retrieval: chunked similarity search, XTREME's BUCC mining and threshold, Tatoeba accuracy,
the pooled representation, and evaluate-only pipelines through `stilts run`."""

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from helpers import evaluate_examples, run_cli

from stilts.core.catalog import get_task
from stilts.core.errors import BadInput
from stilts.data.loading import load_examples
from stilts.formats.retrieval import (
    BITEXT_MINING,
    RETRIEVAL,
    bucc_candidate_scores,
    default_layer,
    knn,
    mine_candidates,
)
from stilts.metrics.retrieval import bucc_optimize
from stilts.target.pair_retrieval_tasks import TATOEBA_LANGUAGES, bucc_examples
from stilts.testing import write_bucc, write_tatoeba

# --- chunked search ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 3, 16, 50, 1000, None])
def test_chunked_knn_equals_dense_in_both_directions(chunk_size):
    generator = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(50, 12, generator=generator), dim=1)
    y = torch.nn.functional.normalize(torch.randn(37, 12, generator=generator), dim=1)
    dense = x @ y.T
    x2y_sim, x2y_ind, y2x_sim, y2x_ind = knn(x, y, 4, both=True, chunk_size=chunk_size)
    expected_sim, expected_ind = dense.topk(4, dim=1)
    assert torch.allclose(x2y_sim, expected_sim, atol=1e-6) and torch.equal(x2y_ind, expected_ind)
    expected_sim, expected_ind = dense.T.topk(4, dim=1)
    assert torch.allclose(y2x_sim, expected_sim, atol=1e-6) and torch.equal(y2x_ind, expected_ind)
    only_forward = knn(x, y, 4, chunk_size=chunk_size)
    assert len(only_forward) == 2 and torch.equal(only_forward[1], x2y_ind)


def test_knn_with_fewer_rows_than_k():
    x, y = torch.eye(3), torch.eye(2, 3)
    x2y_sim, x2y_ind, y2x_sim, y2x_ind = knn(x, y, 4, both=True, chunk_size=2)
    assert x2y_ind.shape == (3, 2) and y2x_ind.shape == (2, 3)
    assert y2x_ind[:, 0].tolist() == [0, 1] and y2x_sim[:, 0].tolist() == [1.0, 1.0]


def _xtreme_mine(x, y, k=4):
    """XTREME utils_retrieve.mine_bitext (mode mine, retrieval max, margin ratio, cosine), written as
    literally as the original: dense k-NN, per-candidate scoring loops, greedy best-first selection."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    sim = x @ y.T
    x2y_ind = np.argsort(-sim, axis=1)[:, :k]
    y2x_ind = np.argsort(-sim.T, axis=1)[:, :k]
    x2y_mean = np.take_along_axis(sim, x2y_ind, axis=1).mean(axis=1)
    y2x_mean = np.take_along_axis(sim.T, y2x_ind, axis=1).mean(axis=1)

    def score_candidates(a, b, inds, fwd_mean, bwd_mean):
        scores = np.zeros(inds.shape)
        for i in range(scores.shape[0]):
            for j in range(scores.shape[1]):
                scores[i, j] = a[i].dot(b[inds[i, j]]) / ((fwd_mean[i] + bwd_mean[inds[i, j]]) / 2)
        return scores

    fwd_scores = score_candidates(x, y, x2y_ind, x2y_mean, y2x_mean)
    bwd_scores = score_candidates(y, x, y2x_ind, y2x_mean, x2y_mean)
    fwd_best = x2y_ind[np.arange(x.shape[0]), fwd_scores.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(y.shape[0]), bwd_scores.argmax(axis=1)]
    indices = np.stack(
        (np.concatenate((np.arange(x.shape[0]), bwd_best)), np.concatenate((fwd_best, np.arange(y.shape[0])))), axis=1
    )
    scores = np.concatenate((fwd_scores.max(axis=1), bwd_scores.max(axis=1)))
    seen_src, seen_trg, mined = set(), set(), []
    for i in np.argsort(-scores):
        src, trg = indices[i]
        if src not in seen_src and trg not in seen_trg:
            seen_src.add(src)
            seen_trg.add(trg)
            if scores[i] > 0:
                mined.append((int(src), int(trg), scores[i]))
    return mined


@pytest.mark.parametrize("chunk_size", [1, 7, None])
def test_mining_matches_xtreme_reference(chunk_size):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 8)), rng.normal(size=(55, 8))
    x[:20] = y[:20] + 0.1 * rng.normal(size=(20, 8))  # 20 true translations among distractors
    ours = mine_candidates(x, y, chunk_size=chunk_size)
    reference = _xtreme_mine(x, y)
    assert [(i, j) for i, j, _ in ours] == [(i, j) for i, j, _ in reference]
    assert np.allclose([s for *_, s in ours], [s for *_, s in reference], atol=1e-5)
    assert {(i, i) for i in range(20)} <= {(i, j) for i, j, _ in ours}


# --- BUCC: a hand-made case ------------------------------------------------------------------------


def _vector(strengths: dict[int, float], dim=6):
    """A shared component (so every similarity is positive and the k-NN means matter) plus directions."""
    vector = np.zeros(dim)
    vector[0] = 1.0
    for axis, strength in strengths.items():
        vector[axis] += strength
    return vector


SOURCE_VECTORS = [_vector({1: 2}), _vector({2: 2}), _vector({3: 2}), _vector({4: 2})]
GOLD = {("s1", "e1"), ("s2", "e2")}
# dev: s1-e1 and s2-e2 are strong, s3-e3 is a weaker false candidate; test: s2-e2 is weaker than dev's threshold
DEV_ENGLISH = [_vector({1: 2}), _vector({2: 1.5}), _vector({3: 0.8, 5: 2}), _vector({5: 2})]
TEST_ENGLISH = [_vector({1: 2}), _vector({2: 0.8, 5: 1.5}), _vector({3: 0.5, 5: 2}), _vector({5: 2})]


def _bucc_case(english_vectors):
    sources = {f"s{i}": f"source sentence {i}" for i in range(1, 5)}
    english = {f"e{i}": f"English sentence {i}" for i in range(1, 5)}
    examples = bucc_examples(sources, english, GOLD)
    vectors = {("source", f"s{i + 1}"): v for i, v in enumerate(SOURCE_VECTORS)}
    vectors.update({("english", f"e{i + 1}"): v for i, v in enumerate(english_vectors)})
    return [vectors[(e["side"], e["id"])] for e in examples], examples


def test_bucc_examples_put_gold_pairs_first_then_alternate_sides():
    examples = bucc_examples({"s1": "a", "s2": "b", "s3": "c"}, {"e1": "A", "e2": "B"}, {("s2", "e1")})
    assert [(e["side"], e["id"]) for e in examples] == [
        ("source", "s2"),
        ("english", "e1"),
        ("source", "s1"),
        ("english", "e2"),
        ("source", "s3"),
    ]
    assert examples[0]["gold"] == ["e1"] and examples[2]["gold"] == [] and examples[1]["gold"] == []


def test_bucc_candidates_of_the_hand_made_case():
    vectors, examples = _bucc_case(DEV_ENGLISH)
    candidates, gold = BITEXT_MINING.candidates(vectors, examples)
    assert gold == GOLD
    assert set(candidates) == {("s1", "e1"), ("s2", "e2"), ("s3", "e3"), ("s4", "e4")}
    ranked = sorted(candidates, key=candidates.get, reverse=True)
    assert set(ranked[:2]) == GOLD


def test_bucc_threshold_is_chosen_on_dev_and_applied_to_test():
    task = get_task("bucc")
    state = {}
    dev = BITEXT_MINING.score_split(*_bucc_case(DEV_ENGLISH), task, "de", "dev", state)
    assert dev == {"f1": 100.0, "precision": 100.0, "recall": 100.0}
    dev_candidates, _ = BITEXT_MINING.candidates(*_bucc_case(DEV_ENGLISH))
    assert state["threshold"] == pytest.approx(bucc_optimize(dev_candidates, GOLD))
    assert state["threshold_from"] == "dev"
    threshold = state["threshold"]

    test = BITEXT_MINING.score_split(*_bucc_case(TEST_ENGLISH), task, "de", "test", state)
    # s2-e2 scores below dev's threshold on test: half the gold pairs are found
    assert test["precision"] == 100.0 and test["recall"] == 50.0
    assert test["f1"] == pytest.approx(200 / 3)
    assert state["threshold"] == threshold and set(state["splits"]) == {"dev", "test"}
    # tuning on test itself (what `score` does without a state) would find both pairs
    assert BITEXT_MINING.score(*_bucc_case(TEST_ENGLISH), task, "de")["f1"] == 100.0


def test_bucc_test_without_a_dev_threshold_is_bad_input():
    with pytest.raises(BadInput, match="dev split of 'de' chooses it"):
        BITEXT_MINING.score_split(*_bucc_case(TEST_ENGLISH), get_task("bucc"), "de", "test", {})


def test_bucc_drops_candidates_of_repeated_sentences():
    """As XTREME's read_sent2id: a sentence occurring twice on its side has no id."""
    vectors = [SOURCE_VECTORS[0], SOURCE_VECTORS[1], SOURCE_VECTORS[1]] + DEV_ENGLISH[:2]
    candidates = bucc_candidate_scores(
        vectors[:3], ["a", "b", "b "], ["s1", "s2", "s2bis"], vectors[3:], ["A", "B"], ["e1", "e2"]
    )
    assert set(candidates) == {("s1", "e1")}


def test_bucc_on_the_real_sample_files(shared_data):
    task = get_task("bucc")
    examples = load_examples(task, "dev", "zh", {"bucc": str(shared_data / "bucc2018")})
    sides = [e["side"] for e in examples]
    assert sides.count("source") == 8624 and sides.count("english") == 13589
    assert sum(len(e["gold"]) for e in examples) == 257
    # with every gold pair embedded identically (and random vectors elsewhere) mining is perfect
    vectors = np.random.default_rng(0).normal(size=(len(examples), 256)).astype(np.float32)
    english_row = {e["id"]: i for i, e in enumerate(examples) if e["side"] == "english"}
    for i, example in enumerate(examples):
        for english_id in example["gold"]:
            vectors[english_row[english_id]] = vectors[i]
    assert BITEXT_MINING.score_split(list(vectors), examples, task, "zh", "dev", {})["f1"] == 100.0
    with pytest.raises(BadInput):
        load_examples(task, "test", "zh", {"bucc": str(shared_data / "bucc2018")})
    with pytest.raises(BadInput, match="not on the Hub"):
        load_examples(task, "dev", "zh", {})


# --- Tatoeba -------------------------------------------------------------------------------------


def _one_hot_outputs(examples):
    """Feature outputs of a fake encoder that embeds both sentences of pair i as the unit vector e_i."""
    count = len(examples)
    outputs = list(np.eye(count, dtype=np.float32)) * 2
    features = {"side": [0] * count + [1] * count, "example_index": list(range(count)) * 2}
    return outputs, features


def test_tatoeba_real_files_with_an_identity_embedding_score_100(shared_data):
    task = get_task("tatoeba")
    counts = {}
    for language in TATOEBA_LANGUAGES:
        examples = load_examples(task, "test", language, {"tatoeba": str(shared_data / "tatoeba")})
        counts[language] = len(examples)
        predictions = RETRIEVAL.predict(*_one_hot_outputs(examples), examples, task)
        assert RETRIEVAL.score(predictions, examples, task, language) == {"accuracy": 100.0}
    # docs/tasks.md: usually 1,000 pairs; fewer for these
    assert {language: n for language, n in counts.items() if n != 1000} == {
        "jv": 205,
        "te": 234,
        "ta": 307,
        "sw": 390,
        "th": 548,
        "kk": 575,
        "ml": 687,
        "ka": 746,
    }


def test_tatoeba_accuracy_of_the_tiny_model_on_real_files(shared_data, tiny_model):
    from accelerate import Accelerator

    from stilts.training.model import StageModel, load_encoder

    task = get_task("tatoeba")
    examples = load_examples(task, "test", "jv", {"tatoeba": str(shared_data / "tatoeba")})
    encoder, tokenizer = load_encoder(str(tiny_model))
    model = StageModel(encoder, [task])
    scores = evaluate_examples(
        Accelerator(cpu=True),
        model,
        task,
        examples,
        tokenizer,
        max_length=128,
        batch_size=64,
        language="jv",
        split="test",
        state={},
    )
    assert set(scores) == {"accuracy"} and 0.0 <= scores["accuracy"] <= 100.0


def test_tatoeba_retrieves_with_the_english_side_as_queries():
    """English sentence i looks among the non-English sentences; a wrong neighbour is an error."""
    examples = [{"id": str(i), "text_a": "x", "text_b": "y"} for i in range(3)]
    source = np.eye(3, dtype=np.float32)
    english = np.array([[1, 0, 0], [1, 0.1, 0], [0, 0, 1]], dtype=np.float32)  # English 1 finds source 0
    outputs = list(source) + list(english)
    features = {"side": [0] * 3 + [1] * 3, "example_index": [0, 1, 2] * 2}
    predictions = RETRIEVAL.predict(outputs, features, examples, get_task("tatoeba"))
    assert predictions == [0, 0, 2]
    assert RETRIEVAL.score(predictions, examples, get_task("tatoeba"), "de")["accuracy"] == pytest.approx(200 / 3)


def test_tatoeba_hub_rows_lose_their_trailing_newline():
    row = {"source_sentence": "Hallo.\n", "target_sentence": "Hello.\n", "source_lang": "deu", "target_lang": "eng"}
    assert get_task("tatoeba").hub.to_example(row) == {"id": "", "text_a": "Hallo.", "text_b": "Hello."}
    assert get_task("tatoeba").hub.config("zh") == "tatoeba.cmn"


# --- the pooled representation --------------------------------------------------------------------


def test_default_layer_follows_the_paper_and_xtreme():
    assert default_layer(24) == 14  # XLM-R large: the paper's "layer 13" = hidden_states[14]
    assert default_layer(12) == 8  # XTREME's mBERT LAYER=7 = hidden_states[8]
    assert [default_layer(n) for n in (2, 6, 16)] == [2, 4, 10]


def test_pooling_reads_the_configured_hidden_state(tiny_model):
    from stilts.training.model import load_encoder

    encoder, tokenizer = load_encoder(str(tiny_model))
    encoder.eval()
    batch = dict(tokenizer(["the cat sleeps", "a dog"], padding=True, return_tensors="pt"))
    with torch.no_grad():
        states = encoder(**batch, output_hidden_states=True).hidden_states
        mask = batch["attention_mask"].unsqueeze(-1).float()
        for layer in (0, 1, 2):
            _, mean = RETRIEVAL.for_evaluation({"layer": layer, "pooling": "mean"}).forward(encoder, None, batch)
            assert torch.allclose(mean, (states[layer] * mask).sum(1) / mask.sum(1), atol=1e-6)
        _, cls = RETRIEVAL.for_evaluation({"layer": 1, "pooling": "cls"}).forward(encoder, None, batch)
        assert torch.allclose(cls, states[1][:, 0])
        _, default = RETRIEVAL.for_evaluation({}).forward(encoder, None, batch)  # 2 layers -> the last
        assert torch.allclose(default, (states[2] * mask).sum(1) / mask.sum(1), atol=1e-6)
        with pytest.raises(BadInput, match="past the last layer"):
            RETRIEVAL.for_evaluation({"layer": 3}).forward(encoder, None, batch)
    assert RETRIEVAL.layer is None  # configuring returns a copy; the shared format is untouched


# --- evaluate-only pipelines through `stilts run` ---------------------------------------------------


def _scores(out):
    with open(out / "scores.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_intermediate_then_tatoeba_and_bucc_evaluation_run_end_to_end(
    tmp_path, tiny_model, tiny_nli, capsys, monkeypatch
):
    import stilts.formats.retrieval as retrieval

    minings = []
    mine = retrieval.mine_candidates
    monkeypatch.setattr(retrieval, "mine_candidates", lambda *a, **k: minings.append(1) or mine(*a, **k))
    config = {
        "name": "tiny_retrieval",
        "model": str(tiny_model),
        "seed": 1,
        "data": {
            "mnli": str(tiny_nli["mnli"]),
            "tatoeba": str(write_tatoeba(tmp_path / "tatoeba")),
            "bucc": str(write_bucc(tmp_path / "bucc")),
        },
        "stages": [
            {
                "kind": "intermediate",
                "tasks": ["mnli"],
                "max_steps": 2,
                "batch_size": 8,
                "learning_rate": 1e-3,
                "validate_every": 2,
            },
            {"kind": "evaluate", "task": "tatoeba", "layer": 1},
            {"kind": "evaluate", "name": "mining", "task": "bucc", "pooling": "cls"},
        ],
    }
    path = tmp_path / "retrieval.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, stdout, _ = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stdout
    rows = _scores(tmp_path / "out")
    tatoeba = {(r["split"], r["language"], r["metric"]) for r in rows if r["target"] == "tatoeba"}
    assert tatoeba == {("test", "de", "accuracy"), ("test", "fr", "accuracy")}
    bucc = {(r["split"], r["language"], r["metric"]) for r in rows if r["target"] == "bucc"}
    assert bucc == {(s, "de", m) for s in ("dev", "test") for m in ("f1", "precision", "recall")}
    assert all(r["intermediate"] == "mnli" and 0 <= float(r["value"]) <= 100 for r in rows)
    (mining,) = (tmp_path / "out").glob("mining-*")
    state = json.loads((mining / "metrics.json").read_text())["state"]["de"]
    assert state["threshold_from"] == "dev" and set(state["splits"]) == {"dev", "test"}
    # one mining per split: its score, prediction file and per-sentence rows share the candidates
    assert len(minings) == 2
    # the evaluated encoder is the intermediate stage's; no target stage was needed
    (evaluate,) = (tmp_path / "out").glob("evaluate-*")
    assert json.loads((evaluate / "config.json").read_text())["upstream"].split("/")[-1].startswith("intermediate-")


def test_retrieval_layer_and_pooling_are_fingerprinted(tmp_path, tiny_model):
    from stilts.pipeline.config import validate_pipeline
    from stilts.pipeline.engine import plan_pipeline

    def fingerprint(**evaluate):
        raw = {"name": "p", "model": str(tiny_model), "stages": [{"kind": "evaluate", "task": "tatoeba", **evaluate}]}
        stages, _ = plan_pipeline(validate_pipeline(raw, "p.yaml"), tmp_path, tmp_path / "out", "p.yaml")
        return stages[0].fingerprint

    base = fingerprint()
    assert fingerprint(layer=14) != base and fingerprint(pooling="cls") != base
    assert fingerprint(batch_size=3) == base
    with pytest.raises(BadInput, match="pooling"):
        fingerprint(pooling="max")
