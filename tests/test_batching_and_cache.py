"""Length-grouped batches, the fast batch path and the on-disk feature cache: they make runs faster and
must not change what a run computes, nor break exact resume."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import write_pipeline
from helpers import run_cli
from transformers import AutoTokenizer

import stilts.formats.feature_cache as feature_cache_module
import stilts.formats.tokenize as tokenize_module
from stilts.core.catalog import get_task
from stilts.formats.batching import Batcher, feature_lengths
from stilts.formats.tokenize import featurize
from stilts.testing import tiny_nli_examples
from stilts.training.loop import LENGTH_GROUP_BATCHES, TaskBatches, TrainingTask, pass_order

CPU = SimpleNamespace(num_processes=1, process_index=0, device=torch.device("cpu"))


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def mnli():
    return get_task("mnli")


def nli(count: int, seed: int = 0) -> list[dict]:
    return [
        {"id": str(i), "text_a": premise, "text_b": hypothesis, "label": label}
        for i, (premise, hypothesis, label) in enumerate(tiny_nli_examples("en", count, seed))
    ]


# --- length grouping -------------------------------------------------------------------------------


def test_plain_order_is_unchanged():
    """Without grouping a pass is the permutation runs have always used (old runs stay comparable)."""
    expected = np.random.default_rng([7, 2, 3]).permutation(500)
    assert np.array_equal(pass_order(500, 7, 2, 3), expected)
    assert np.array_equal(pass_order(500, 7, 2, 3, batch_size=16), expected)


def test_grouped_order_is_a_deterministic_permutation_of_similar_lengths():
    lengths = np.random.default_rng(0).integers(5, 200, size=1000)
    batch = 16
    order = pass_order(1000, 1, 0, 0, batch_size=batch, lengths=lengths)
    assert sorted(order.tolist()) == list(range(1000))
    assert np.array_equal(order, pass_order(1000, 1, 0, 0, batch_size=batch, lengths=lengths))
    assert not np.array_equal(order, pass_order(1000, 1, 0, 1, batch_size=batch, lengths=lengths))
    assert not np.array_equal(order, pass_order(1000, 2, 0, 0, batch_size=batch, lengths=lengths))

    def padded_tokens(indices):
        full = len(indices) // batch * batch
        widths = lengths[indices[:full]].reshape(-1, batch).max(axis=1)
        return int(widths.sum()) * batch

    plain = pass_order(1000, 1, 0, 0)
    assert padded_tokens(order) < 0.8 * padded_tokens(plain)
    # batches come in random order, not longest first
    widths = lengths[order[: 1000 // batch * batch]].reshape(-1, batch).max(axis=1)
    assert not np.all(np.diff(widths[:LENGTH_GROUP_BATCHES]) <= 0)
    # the short remainder batch stays last (the shortest of the last window), so positions in the pass
    # stay multiples of the batch size
    last_window = plain[LENGTH_GROUP_BATCHES * batch :]
    shortest = last_window[np.argsort(-lengths[last_window], kind="stable")][-(1000 % batch) :]
    assert np.array_equal(order[-(1000 % batch) :], shortest)


def _stream(mnli, tokenizer, features, accelerator=CPU, batch_size=8):
    return TaskBatches(TrainingTask(mnli, features, batch_size), tokenizer, 1, 0, accelerator, group_by_length=True)


def test_grouped_batches_resume_exactly(mnli, tokenizer):
    features = featurize(mnli, nli(100), tokenizer, 64, cache=False)
    whole = _stream(mnli, tokenizer, features)
    expected = [whole.next() for _ in range(30)]  # 13 batches a pass: three passes
    first = _stream(mnli, tokenizer, features)
    for _ in range(17):
        first.next()
    resumed = _stream(mnli, tokenizer, features)
    resumed.load_state_dict(first.state_dict())
    for batch in expected[17:]:
        got = resumed.next()
        assert got.keys() == batch.keys() and all(torch.equal(got[k], batch[k]) for k in batch)


def test_grouped_batches_split_across_processes(mnli, tokenizer):
    """Each of two processes takes its half of every global batch of the one-process run (64 features:
    full batches only; a short last batch is topped up differently)."""
    features = featurize(mnli, nli(64), tokenizer, 64, cache=False)
    one = _stream(mnli, tokenizer, features)
    ranks = [
        _stream(
            mnli, tokenizer, features, SimpleNamespace(num_processes=2, process_index=rank, device=torch.device("cpu"))
        )
        for rank in (0, 1)
    ]
    for _ in range(20):
        assert np.array_equal(np.concatenate([rank.next_indices() for rank in ranks]), one.next_indices())


# --- batches ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["right", "left"])
def test_fast_batches_equal_the_formats_collate(mnli, tiny_model, side):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model, padding_side=side)
    features = featurize(mnli, nli(40), tokenizer, 64, cache=False)
    batcher = Batcher(mnli, features, tokenizer)
    assert batcher.plan is not None  # the fast path
    rng = np.random.default_rng(0)
    for _ in range(5):
        indices = rng.choice(len(features), size=7, replace=False)
        expected = mnli.format.collate(batcher.rows(indices), tokenizer)
        got = batcher(indices)
        assert got.keys() == expected.keys()
        assert all(got[k].dtype == expected[k].dtype and torch.equal(got[k], expected[k]) for k in got)


def test_other_formats_use_their_own_collate(tokenizer):
    """Masked LM masks at random in collate: no fast path, the same batches as collate itself."""
    mlm = get_task("mlm")
    features = featurize(
        mlm,
        [{"id": str(i), "text": f"the cat number {i} sleeps in the garden"} for i in range(12)],
        tokenizer,
        32,
        cache=False,
    )
    batcher = Batcher(mlm, features, tokenizer)
    assert batcher.plan is None
    torch.manual_seed(3)
    got = batcher([0, 5, 7])
    torch.manual_seed(3)
    expected = mlm.format.collate(batcher.rows([0, 5, 7]), tokenizer)
    assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_feature_lengths(mnli, tokenizer):
    features = featurize(mnli, nli(20), tokenizer, 64, cache=False)
    assert feature_lengths(features).tolist() == [len(ids) for ids in features["input_ids"]]


def test_evaluation_order_does_not_change_outputs(mnli, tiny_model):
    from accelerate import Accelerator

    from stilts.training.evaluation import predict_outputs
    from stilts.training.model import StageModel, load_encoder

    encoder, tokenizer = load_encoder(str(tiny_model))
    model = StageModel(encoder, [mnli])
    features = featurize(mnli, nli(30), tokenizer, 64, cache=False)
    accelerator = Accelerator(cpu=True)
    by_length = predict_outputs(accelerator, model, mnli, features, tokenizer, 8)
    in_order = predict_outputs(accelerator, model, mnli, features, tokenizer, 8, sort_by_length=False)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(by_length, in_order))


# --- the feature cache -----------------------------------------------------------------------------


def _entries(folder):
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def test_second_featurize_loads_from_the_cache(mnli, tokenizer, tmp_path, monkeypatch):
    examples = nli(50)
    first = featurize(mnli, examples, tokenizer, 64, cache=tmp_path)
    assert len(_entries(tmp_path)) == 1 and not _entries(tmp_path)[0].startswith(".")

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("tokenized although the features are cached")

    monkeypatch.setattr(tokenize_module, "_tokenize", no_tokenizing)
    second = featurize(mnli, examples, tokenizer, 64, cache=tmp_path)
    assert second.to_dict() == first.to_dict()


def test_cache_misses_when_what_features_depend_on_changes(mnli, tokenizer, tiny_model, tmp_path):
    examples = nli(50)
    featurize(mnli, examples, tokenizer, 64, cache=tmp_path)
    featurize(mnli, examples, tokenizer, 32, cache=tmp_path)  # another max_length
    edited = [dict(example) for example in examples]
    edited[10]["text_b"] += " today"
    featurize(mnli, edited, tokenizer, 64, cache=tmp_path)  # other data
    featurize(mnli, examples[:49], tokenizer, 64, cache=tmp_path)  # fewer examples
    assert len(_entries(tmp_path)) == 4
    # the same tokenizer from another folder is the same tokenizer: a hit
    copy = tmp_path.parent / "tokenizer-copy"
    tokenizer.save_pretrained(copy)
    featurize(mnli, examples, AutoTokenizer.from_pretrained(copy), 64, cache=tmp_path)
    assert len(_entries(tmp_path)) == 4


def test_tokenizer_fingerprint_ignores_the_truncation_of_earlier_calls(tokenizer, tiny_model):
    """A fast tokenizer's backend remembers the truncation of its last call; that is not what it does
    when featurize calls it with its own max_length, so it must not change the cache key."""
    fresh = AutoTokenizer.from_pretrained(tiny_model)
    before = feature_cache_module._tokenizer_fingerprint(fresh)
    fresh("a rather long sentence about cats", "and dogs", truncation=True, max_length=5)
    assert feature_cache_module._tokenizer_fingerprint(fresh) == before
    fresh.add_tokens(["<new-piece>"])  # what it does changed: so does the fingerprint, remembered or not
    assert feature_cache_module.tokenizer_fingerprint(fresh) != before


def test_default_cache_location_and_threshold(mnli, tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("STILTS_FEATURE_CACHE", str(tmp_path / "cache"))
    featurize(mnli, nli(20), tokenizer, 64)  # small sets are not worth caching
    assert not _entries(tmp_path / "cache")
    monkeypatch.setattr(feature_cache_module, "CACHE_MIN_EXAMPLES", 10)
    featurize(mnli, nli(20), tokenizer, 64)
    assert len(_entries(tmp_path / "cache")) == 1
    monkeypatch.setenv("STILTS_FEATURE_CACHE", "off")
    featurize(mnli, nli(20, seed=5), tokenizer, 64)
    assert len(_entries(tmp_path / "cache")) == 1


# --- a whole run -----------------------------------------------------------------------------------


class Killed(Exception):
    """Stands in for a SIGKILL right after a checkpoint of the target stage."""


def test_grouped_run_interrupted_in_its_second_stage_resumes_to_the_same_scores(
    tiny_model, tiny_nli, tmp_path, capsys, monkeypatch
):
    from stilts.training.checkpoints import CheckpointStore

    pipeline = write_pipeline(
        tmp_path / "p.yaml",
        tiny_model,
        tiny_nli,
        name="grouped",
        epochs=2,
        batch_size=8,
        validate_every=4,
        checkpoint_every=3,
        group_by_length=True,
    )
    monkeypatch.setenv("STILTS_FEATURE_CACHE", "off")
    code, _, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "whole"], capsys)
    assert code == 0

    save = CheckpointStore.save

    def save_then_die(self, step, progress):
        save(self, step, progress)
        if self.folder.parent.name.startswith("target") and step == 6:
            raise Killed

    monkeypatch.setattr(CheckpointStore, "save", save_then_die)
    with pytest.raises(Killed):
        run_cli(["run", pipeline, "--output-dir", tmp_path / "resumed"], capsys)
    monkeypatch.setattr(CheckpointStore, "save", save)
    assert list((tmp_path / "resumed").glob("target-*/checkpoints/step-6"))
    code, out, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "resumed"], capsys)
    assert code == 0
    assert "resuming" in out
    assert (tmp_path / "resumed" / "scores.csv").read_text() == (tmp_path / "whole" / "scores.csv").read_text()


def test_malloc_thresholds_defer_to_the_environment(monkeypatch):
    """A user's MALLOC_*_THRESHOLD_ settings win over the ones training sets on CPU."""
    import ctypes.util

    from stilts.training.loop import _keep_freed_memory

    for name in ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (("MALLOC_MMAP_MAX_", "65536"), ("MALLOC_MMAP_THRESHOLD_", "131072")):
        monkeypatch.setenv(name, value)
        assert _keep_freed_memory() is False
        monkeypatch.delenv(name)
    assert _keep_freed_memory() is (ctypes.util.find_library("c") == "libc.so.6")
