"""Stage folders of run folders made by earlier versions stay reusable: the fingerprints of these
pipelines were recorded before the registry refactor (2026-12-01) and must not change. A change here
means every existing run folder would be retrained; if one is meant, say so in the changelog."""

from pathlib import Path

import pytest

from stilts.config import validate_pipeline
from stilts.engine import plan_pipeline

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

RECORDED = {
    "three_kinds": ["intermediate-2e66cccb", "target-d0678baf", "evaluate-37903b62"],
    "mixture_mlm_retrieval": ["mix-19ef3b6a", "evaluate-2bc6013e"],
    "translated_and_train_tasks": ["intermediate-33ee3bd5", "target-39b8fe3d", "evaluate-06781665"],
    "qa": ["intermediate-1da34999", "target-d2a2a652", "evaluate-ad75783c"],
}


@pytest.mark.parametrize("key", sorted(PIPELINES))
def test_stage_folders_keep_their_recorded_names(key, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # data and model paths are relative, as written in a YAML
    raw = PIPELINES[key]
    for folder in [raw["model"], *raw["data"].values()]:
        if not folder.startswith(("offline/", "FacebookAI/")):
            Path(folder).mkdir(parents=True, exist_ok=True)
    stages, _ = plan_pipeline(validate_pipeline(raw, key), Path("."), Path("runs"), key)
    assert [stage.folder.name for stage in stages] == RECORDED[key]
