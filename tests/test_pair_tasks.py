"""Pair-classification catalog entries: QQP, SNLI, ANLI rounds, ANLI+ (composite), PAWS-X; readers of
their release layouts, Hub row mappings, and QQP -> PAWS-X through `stilts run`."""

import csv
import json

import pytest
import yaml
from helpers import run_cli

from stilts.core.catalog import get_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.data.loading import load_examples
from stilts.target.pair_retrieval_tasks import PAWSX_LANGUAGES
from stilts.testing import write_anli, write_mnli, write_pawsx, write_qqp, write_snli

NLI = ("entailment", "neutral", "contradiction")


# --- ANLI+ ---------------------------------------------------------------------------------------


@pytest.fixture
def anli_plus_sources(tmp_path, shared_data):
    """Tiny training files for every part; the real ANLI dev files (no ANLI train file is in shared/)."""
    anli = tmp_path / "anli_v1.0"
    write_anli(anli)
    for n in (1, 2, 3):
        (anli / f"R{n}" / "dev.jsonl").symlink_to(shared_data / "intermediate/anli/anli_v1.0" / f"R{n}/dev.jsonl")
    return {
        "anli_r1": str(anli),
        "anli_r2": str(anli),
        "anli_r3": str(anli),
        "mnli": str(write_mnli(tmp_path / "mnli")),
        "snli": str(write_snli(tmp_path / "snli")),
    }


def test_anli_plus_train_is_every_part_concatenated(anli_plus_sources):
    task = get_task("anli_plus")
    examples = load_examples(task, "train", "en", anli_plus_sources)
    # ANLI rounds 4 + 8 + 12, MNLI 5, SNLI 6 (its "-" row dropped)
    assert len(examples) == 4 + 8 + 12 + 5 + 6
    ids = [e["id"] for e in examples]
    assert len(set(ids)) == len(ids)
    assert {i.split("-")[0] for i in ids} == {"r1", "r2", "r3", "mnli", "snli"}
    assert {e["label"] for e in examples} == set(NLI)
    assert examples == load_examples(task, "train", "en", anli_plus_sources)  # a fixed shuffle
    assert ids != sorted(ids, key=lambda i: ["r1", "r2", "r3", "mnli", "snli"].index(i.split("-")[0]))


def test_anli_plus_dev_interleaves_the_parts(anli_plus_sources):
    examples = load_examples(get_task("anli_plus"), "dev", "en", anli_plus_sources)
    assert len(examples) == 1000 + 1000 + 1200 + 3 + 6  # real ANLI dev rounds + tiny MNLI and SNLI dev
    first = [e["id"] for e in examples[:5]]
    parts = [
        load_examples(get_task(p), "dev", "en", anli_plus_sources)[0]["id"]
        for p in ("anli_r1", "anli_r2", "anli_r3", "mnli", "snli")
    ]
    assert first == parts  # round-robin: one of each part, in the parts' order


def test_anli_plus_leaves_out_a_part_without_dev(anli_plus_sources, tmp_path):
    anli_plus_sources["snli"] = str(write_snli(tmp_path / "snli_train_only", splits=("train",)))
    examples = load_examples(get_task("anli_plus"), "dev", "en", anli_plus_sources)
    assert len(examples) == 1000 + 1000 + 1200 + 3


def test_anli_plus_is_read_from_its_parts_only(anli_plus_sources):
    with pytest.raises(BadInput, match="data.anli_r1, data.anli_r2, data.anli_r3, data.mnli, data.snli"):
        load_examples(get_task("anli_plus"), "train", "en", dict(anli_plus_sources, anli_plus="/x"))


def test_anli_plus_stage_fingerprints_its_parts_data(tmp_path):
    from stilts.pipeline.config import validate_pipeline
    from stilts.pipeline.engine import plan_pipeline

    def stage(**data):
        raw = {"name": "p", "model": "m", "data": data, "stages": [{"kind": "intermediate", "tasks": ["anli_plus"]}]}
        return plan_pipeline(validate_pipeline(raw, "p.yaml"), tmp_path, tmp_path / "out", "p.yaml")[0][0]

    base = stage()
    assert set(base.settings["data"]) == {"anli_plus", "anli_r1", "anli_r2", "anli_r3", "mnli", "snli"}
    assert stage(snli=str(tmp_path)).fingerprint != base.fingerprint


def test_real_anli_dev_files_per_round(shared_data):
    folder = str(shared_data / "intermediate/anli/anli_v1.0")
    counts = {n: len(load_examples(get_task(f"anli_r{n}"), "dev", "en", {f"anli_r{n}": folder})) for n in (1, 2, 3)}
    assert counts == {1: 1000, 2: 1000, 3: 1200}
    # the round folder itself works too; a missing split is a MissingSplit
    r2 = load_examples(get_task("anli_r2"), "test", "en", {"anli_r2": f"{folder}/R2"})
    assert len(r2) == 1000 and {e["label"] for e in r2} == set(NLI)
    with pytest.raises(MissingSplit):
        load_examples(get_task("anli_r1"), "train", "en", {"anli_r1": folder})


def test_nli_hub_rows():
    anli_row = {"uid": "u1", "premise": "p", "hypothesis": "h", "label": 2, "reason": ""}
    assert get_task("anli_r3").hub.to_example(anli_row) == {
        "id": "u1",
        "text_a": "p",
        "text_b": "h",
        "label": "contradiction",
    }
    assert get_task("anli_r3").hub.splits == {"train": "train_r3", "dev": "dev_r3", "test": "test_r3"}
    snli = get_task("snli").hub
    assert snli.to_example({"premise": "p", "hypothesis": "h", "label": -1}) is None
    assert snli.to_example({"premise": "p", "hypothesis": "h", "label": 0})["label"] == "entailment"


# --- QQP -----------------------------------------------------------------------------------------


def test_qqp_reads_glue_tsv_and_reports_f1(tmp_path):
    task = get_task("qqp")
    folder = str(write_qqp(tmp_path / "QQP"))
    train = load_examples(task, "train", "en", {"qqp": folder})
    assert len(train) == 24 and {e["label"] for e in train} == {"duplicate", "not_duplicate"}
    assert len(load_examples(task, "dev", "en", {"qqp": str(tmp_path)})) == 8  # parent of QQP/ works too
    with pytest.raises(MissingSplit, match="no labels"):
        load_examples(task, "test", "en", {"qqp": folder})
    gold = [e["label"] for e in train]
    scores = task.format.score(["duplicate"] * len(gold), train, task, "en")
    assert set(scores) == {"accuracy", "f1"} and scores["accuracy"] == 50.0
    assert task.hub.to_example({"question1": "a", "question2": "b", "label": 1, "idx": 7}) == {
        "id": "7",
        "text_a": "a",
        "text_b": "b",
        "label": "duplicate",
    }
    assert task.hub.to_example({"question1": "a", "question2": "b", "label": -1, "idx": 7}) is None


# --- PAWS-X --------------------------------------------------------------------------------------


def test_pawsx_real_dev_has_2000_pairs_per_language(shared_data):
    task = get_task("pawsx")
    folder = str(shared_data / "pawsx")
    for language in PAWSX_LANGUAGES:
        examples = load_examples(task, "dev", language, {"pawsx": folder})
        assert len(examples) == 2000, language
        assert {e["label"] for e in examples} == {"0", "1"}
    with pytest.raises(MissingSplit):  # no labelled test files in the XTREME folder
        load_examples(task, "test", "en", {"pawsx": folder})
    german_test = load_examples(task, "test", "de", {"pawsx": str(shared_data / "pawsx/tsv_files")})
    assert len(german_test) == 2000 and german_test[0]["id"] == "10"


def test_pawsx_original_layout_and_stripped_test_files(tmp_path):
    task = get_task("pawsx")
    root = write_pawsx(tmp_path / "paws")
    for folder in (root, root / "x-final"):
        assert len(load_examples(task, "train", "en", {"pawsx": str(folder)})) == 8
        assert len(load_examples(task, "test", "de", {"pawsx": str(folder)})) == 8
    with pytest.raises(MissingSplit):  # only English has a train.tsv
        task.read_local(root, "train", "de")
    xtreme = tmp_path / "xtreme"
    xtreme.mkdir()
    (xtreme / "test-fr.tsv").write_text("a\tb\n", encoding="utf-8")  # XTREME strips test labels
    with pytest.raises(MissingSplit, match="no labels"):
        task.read_local(xtreme, "test", "fr")
    assert task.hub.to_example({"id": 3, "sentence1": "a", "sentence2": "b", "label": 1})["label"] == "1"
    assert task.hub.config("ko") == "ko" and task.train_task is None


def test_qqp_then_pawsx_runs_end_to_end(tmp_path, tiny_model, capsys):
    settings = {"learning_rate": 1e-3, "batch_size": 8, "max_steps": 3, "validate_every": 3}
    config = {
        "name": "tiny_qqp_pawsx",
        "model": str(tiny_model),
        "seed": 1,
        "data": {"qqp": str(write_qqp(tmp_path / "QQP")), "pawsx": str(write_pawsx(tmp_path / "paws"))},
        "stages": [
            {"kind": "intermediate", "tasks": ["qqp"], **settings},
            {"kind": "target", "task": "pawsx", **settings},
            {"kind": "evaluate", "task": "pawsx"},
        ],
    }
    path = tmp_path / "qqp_pawsx.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, stdout, _ = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stdout
    with open(tmp_path / "out" / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["split"], r["language"], r["metric"]) for r in rows} == {
        (split, language, "accuracy") for split in ("dev", "test") for language in ("de", "en")
    }
    assert {(r["intermediate"], r["target"]) for r in rows} == {("qqp", "pawsx")}
    (intermediate,) = (tmp_path / "out").glob("intermediate-*")
    validation = json.loads((intermediate / "metrics.json").read_text())["training"]["validations"][0]
    assert set(validation["tasks"]["qqp"]) >= {"accuracy", "f1"}  # QQP validates on F1, reports both


@pytest.mark.parametrize("name", ["qqp_to_pawsx", "mnli_to_tatoeba", "mnli_to_bucc"])
def test_shipped_pipelines_plan(name, request, tmp_path):
    """The YAML files in pipelines/ validate and plan. (A dry run also reads their data, which for a
    `hub` source needs the Hub; planning needs neither the data nor the model.)"""
    from pathlib import Path

    from stilts.pipeline.config import load_pipeline
    from stilts.pipeline.engine import plan_pipeline

    if name == "mnli_to_bucc":
        request.getfixturevalue("shared_data")  # its data.bucc is ../../shared/data/bucc2018
    path = Path(__file__).resolve().parents[1] / "pipelines" / f"{name}.yaml"
    pipeline, base_dir = load_pipeline(path)
    stages, _ = plan_pipeline(pipeline, base_dir, tmp_path, str(path))
    assert [stage.complete for stage in stages] == [False] * (3 if name == "qqp_to_pawsx" else 2)
