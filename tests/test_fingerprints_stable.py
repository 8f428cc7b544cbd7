"""Stage folders of run folders made by earlier versions stay reusable.

Before stilts 0.2 a fingerprint hashed the data and model paths as written in the YAML; the names
below (`MADE_BY_0_2`) were recorded then (before the registry refactor, 2026-12-01). Fingerprints now
hash the content of local data and model folders instead (`BY_CONTENT`, pinned from now on for the
files these tests write: a change there means every existing run folder would be retrained; if one is
meant, say so in the README). A stage folder made by 0.2 is still reused where the files it read are
unchanged: its config.json records their sha256 (`sources`), or, before that record, the data folders
it read (`data`).
"""

import json
import os
from pathlib import Path

import pytest

from stilts.core.artifacts import mark_complete, write_json_atomic
from stilts.data.content import file_sha256
from stilts.pipeline.config import validate_pipeline
from stilts.pipeline.engine import plan_pipeline
from stilts.pipeline.run_folder import STAGES_FILE, record_stages
from stilts.pipeline.status import run_status

PIPELINES = {
    "three_kinds": {
        "name": "p1",
        "model": "model",
        "seed": 3,
        "data": {"mnli": "data/mnli", "xnli": "data/xnli"},
        "stages": [
            {"kind": "intermediate", "tasks": ["mnli"], "learning_rate": 1e-3, "max_steps": 5},
            {"kind": "target", "task": "xnli", "epochs": 1, "group_by_length": True},
            {"kind": "evaluate", "task": "xnli", "languages": ["de", "fr"], "max_examples": 10},
        ],
    },
    "mixture_mlm_retrieval": {
        "name": "p2",
        "model": "offline/multilingual-e5-small",
        "data": {"mnli": "data/mnli", "qqp": "data/qqp", "mlm": "data/corpus", "tatoeba": "data/tatoeba"},
        "stages": [
            {
                "kind": "intermediate",
                "name": "mix",
                "tasks": ["mnli", "qqp", "mlm"],
                "mixing": "temperature",
                "mixing_temperature": 2.0,
                "checkpoint_every": 7,
            },
            {"kind": "evaluate", "task": "tatoeba", "layer": 4, "pooling": "cls", "batch_size": 3},
        ],
    },
    "translated_and_train_tasks": {
        "name": "p3",
        "model": "FacebookAI/xlm-roberta-large",
        "data": {"hellaswag@de": "data/hellaswag.de", "anli_r1": "data/anli", "xnli": "data/xnli"},
        "stages": [
            {"kind": "intermediate", "tasks": "hellaswag@de", "mixing_weights": {"hellaswag@de": 1.0}},
            {"kind": "target", "task": "xnli", "train_tasks": ["anli_r1"], "train_splits": ["dev", "test"]},
            {"kind": "evaluate", "task": "xnli", "splits": ["dev"]},
        ],
    },
    "qa": {
        "name": "p4",
        "model": "model",
        "data": {"squad_v1": "data/squad", "tydiqa": "data/tydiqa"},
        "stages": [
            {"kind": "intermediate", "tasks": ["squad_v1"]},
            {"kind": "target", "task": "tydiqa"},
            {"kind": "evaluate", "task": "tydiqa"},
        ],
    },
}

#: stage folder names and full fingerprints stilts 0.1 gave these pipelines (paths as written)
MADE_BY_0_2 = {
    "three_kinds": {
        "intermediate-2e66cccb": "2e66cccba2c9c7430bbca1ce5b52c821c2180bafd84a88bfb6e79560ced52a52",
        "target-d0678baf": "d0678baf7b8f712f929bf59560d51e195c1cbafabc207d48d90de1d112189c16",
        "evaluate-37903b62": "37903b62355a5bb253cde30cb6f2bb5faeb29f9aa0928f8a4b8fc3f5b6ff402d",
    },
    "mixture_mlm_retrieval": {
        "mix-19ef3b6a": "19ef3b6a0157251039af39120bc7e9ea1017b5b414069c72429d0a62fd707b08",
        "evaluate-2bc6013e": "2bc6013eace568560e56a33240f99d8ce167ead86d14363515a40fd4c1429e07",
    },
    "translated_and_train_tasks": {
        "intermediate-33ee3bd5": "33ee3bd505ea7c6d1848432bba035df69e43c8805b5fa98e4c92f1a7358ebabd",
        "target-39b8fe3d": "39b8fe3d38dce2d3160b3bdd9adfc50a68c0c08ba3d95237d2560c038d5fb245",
        "evaluate-06781665": "06781665dafccae644f90cac762136bf1ea11489619c4557b576c107a7380ff6",
    },
    "qa": {
        "intermediate-1da34999": "1da349996f9a9adb5731f7c6a9e49406e4e0ae96e2f14fd899fabda8a3908059",
        "target-d2a2a652": "d2a2a652fff2276e9e83854c2007b3167617a9ccc44391e2177a5458fb37a6ed",
        "evaluate-ad75783c": "ad75783cacb66e84491b6bf67f6936b7104a9b8fb07b4aad2e1e575190a092ba",
    },
}

#: the stage folder names now, for the files `_write_inputs` writes
BY_CONTENT = {
    "three_kinds": ["intermediate-51be4ed6", "target-32757d19", "evaluate-c042ad4a"],
    "mixture_mlm_retrieval": ["mix-24d17971", "evaluate-8dda1c00"],
    "translated_and_train_tasks": ["intermediate-ab3d4cf1", "target-d476e54d", "evaluate-3208b258"],
    "qa": ["intermediate-3ccd5189", "target-1499746c", "evaluate-a5e15e9b"],
}

#: one file in each folder, read (as recorded in a 0.2 stage's config.json) by the stages of its task
DATA_FILE = "train.txt"


def _write_inputs(raw: dict) -> None:
    """The pipeline's local model and data folders, relative to the working directory, one file each."""
    for task, folder in raw["data"].items():
        Path(folder).mkdir(parents=True, exist_ok=True)
        Path(folder, DATA_FILE).write_text(f"{task} data\n")
    if not raw["model"].startswith(("offline/", "FacebookAI/")):
        Path(raw["model"]).mkdir(exist_ok=True)
        Path(raw["model"], "config.json").write_text("{}\n")
    _age(Path("."))


def _age(folder: Path) -> None:
    """Files as a run finds them, written a while ago (not within the hash cache's racy window)."""
    for path in folder.rglob("*"):
        os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))


def _plan(key: str):
    stages, sources = plan_pipeline(validate_pipeline(PIPELINES[key], key), Path("."), Path("runs").resolve(), key)
    return stages, sources


def _make_0_2_folders(key: str, *, record_files: bool = True) -> None:
    """The pipeline's stage folders as stilts 0.1 left them: complete, config.json with the
    fingerprint, the data folders and (unless not ``record_files``) the files each stage read."""
    stages, sources = _plan(key)
    for stage, (folder, fingerprint) in zip(stages, MADE_BY_0_2[key].items()):
        record: dict = {"fingerprint": fingerprint, "data": sources}
        if record_files:
            record["sources"] = [
                {
                    "task": task,
                    "split": "train",
                    "language": "en",
                    "from": {"local": sources[task], "files": {DATA_FILE: file_sha256(Path(sources[task], DATA_FILE))}},
                }
                for task in sorted(stage.settings["data"])
                if task in sources
            ]
        write_json_atomic(Path("runs", folder, "config.json"), record)
        mark_complete(Path("runs", folder))


@pytest.mark.parametrize("key", sorted(PIPELINES))
def test_fingerprints_hash_the_content_of_data_and_model_folders(key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data and model paths are relative, as written in a YAML
    _write_inputs(PIPELINES[key])
    stages, _ = _plan(key)
    assert [stage.folder.name for stage in stages] == BY_CONTENT[key]


@pytest.mark.parametrize("key", sorted(PIPELINES))
def test_stage_folders_made_by_0_2_are_reused_while_the_files_they_read_are_unchanged(key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = PIPELINES[key]
    _write_inputs(raw)
    _make_0_2_folders(key)
    stages, _ = _plan(key)
    assert [stage.folder.name for stage in stages] == list(MADE_BY_0_2[key])
    assert all(stage.complete for stage in stages)
    # the fingerprint is the content one all the same: the same wherever the stage's folder came from
    assert [stage.fingerprint[:8] for stage in stages] == [name[-8:] for name in BY_CONTENT[key]]

    # a file the stages of one task read is edited: those stages, and every stage after the first of
    # them, are not reused (they will run, into their new folders); the stages before still are
    edited = sorted(raw["data"])[-1]
    Path(raw["data"][edited], DATA_FILE).write_text("edited\n")
    _age(Path(raw["data"][edited]))
    again, _ = _plan(key)
    first = next(i for i, stage in enumerate(stages) if edited in stage.settings["data"])
    assert [stage.folder.name for stage in again[:first]] == list(MADE_BY_0_2[key])[:first]
    assert not any(stage.complete for stage in again[first:])
    assert all(stage.folder.name not in MADE_BY_0_2[key] for stage in again[first:])


def test_stage_folders_made_before_the_files_read_were_recorded_are_reused_from_the_same_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = PIPELINES["three_kinds"]
    _write_inputs(raw)
    _make_0_2_folders("three_kinds", record_files=False)
    stages, _ = _plan("three_kinds")
    assert [stage.folder.name for stage in stages] == list(MADE_BY_0_2["three_kinds"])
    # the recorded data folders name other folders than the pipeline's now (its files moved)
    config = Path("runs", "intermediate-2e66cccb", "config.json")
    record = json.loads(config.read_text())
    record["data"]["mnli"] = str(tmp_path / "elsewhere" / "mnli")
    write_json_atomic(config, record)
    stages, _ = _plan("three_kinds")
    assert not any(stage.complete for stage in stages)


def test_a_reused_0_2_folder_is_one_stage_in_stilts_status(tmp_path, monkeypatch):
    """The run folder's record names it under its 0.1 fingerprint and the one it was reused for."""
    monkeypatch.chdir(tmp_path)
    _write_inputs(PIPELINES["three_kinds"])
    _make_0_2_folders("three_kinds")
    write_json_atomic(
        Path("runs", STAGES_FILE),
        {
            fingerprint: {"name": folder.rsplit("-", 1)[0], "kind": folder.rsplit("-", 1)[0], "folder": folder}
            for folder, fingerprint in MADE_BY_0_2["three_kinds"].items()
        },
    )
    stages, _ = _plan("three_kinds")
    record_stages(Path("runs"), [("p1", stages)])
    listed = run_status(Path("runs"))
    assert sorted(stage.folder.name for stage in listed) == sorted(MADE_BY_0_2["three_kinds"])
    assert {stage.state for stage in listed} == {"complete"}
