"""Every task of the paper's Table 1 runs through `stilts run` on the tiny model, offline, from tiny
local files in its original release format.

Nine pipelines pair each intermediate task with a different target task. BUCC and Tatoeba train
nothing, so their pipelines are an intermediate stage then an evaluate stage. Each pipeline must
finish, mark every stage complete, write scores for the target with the task's metrics on 0-100 and
leave encoders that load with ``AutoModel``.
"""

import csv
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from helpers import run_cli, split_scores
from transformers import AutoModel

from stilts import testing as tiny
from stilts.core.catalog import get_task
from stilts.metrics.scoring import score
from stilts.reports.prediction_files import PREDICTIONS_FOLDER, prediction_path, read_example_rows

TRAINING = {"learning_rate": 1e-3, "batch_size": 4, "max_steps": 2, "validate_every": 1}

#: the paper's Table 1: nine English intermediate tasks and the nine XTREME target tasks
TABLE_1_INTERMEDIATE = {
    "anli_plus",
    "mnli",
    "qqp",
    "squad_v1",
    "squad_v2",
    "hellaswag",
    "ccg",
    "cosmosqa",
    "commonsenseqa",
}
TABLE_1_TARGET = {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc", "tatoeba"}
EVAL_ONLY = {"bucc", "tatoeba"}

ACCURACY = frozenset({"accuracy"})
SPAN_QA = frozenset({"f1", "exact_match"})
F1_PRECISION_RECALL = frozenset({"f1", "precision", "recall"})


def _anli_plus_to_xnli(folder: Path) -> dict:
    anli = tiny.write_anli(folder / "anli_v1.0", count=2, splits=("train", "dev"))
    nli = tiny.write_tiny_nli(folder, train=8, dev=6, languages=("en", "de"))
    return {"anli_r1": anli, "anli_r2": anli, "anli_r3": anli, "snli": tiny.write_snli(folder / "snli", count=3), **nli}


def _squad_v2_to_xquad(folder: Path) -> dict:
    # XQuAD trains and validates on SQuAD v1.1
    return {
        "squad_v2": tiny.write_squad_folder(folder / "squad2", "2.0", train_copies=1),
        "squad_v1": tiny.write_squad_folder(folder / "squad1", "1.1", train_copies=1),
        "xquad": tiny.write_xquad(folder / "xquad"),
    }


def _hellaswag_to_mlqa(folder: Path) -> dict:
    return {
        "hellaswag": tiny.write_hellaswag(folder / "hellaswag"),
        "squad_v1": tiny.write_squad_folder(folder / "squad1", "1.1", train_copies=1),
        "mlqa": tiny.write_mlqa(folder / "mlqa"),
    }


@dataclass(frozen=True)
class Case:
    intermediate: str
    target: str
    write: object  # folder -> {task: data folder}
    #: (split, language) pairs the evaluation must score
    scored: frozenset
    metrics: frozenset
    eval_only: bool = False


CASES = [
    Case(
        "anli_plus",
        "xnli",
        _anli_plus_to_xnli,
        frozenset((s, l) for s in ("dev", "test") for l in ("de", "en")),
        ACCURACY,
    ),
    Case(
        "mnli",
        "pawsx",
        lambda f: {"mnli": tiny.write_mnli(f / "mnli"), "pawsx": tiny.write_pawsx(f / "paws")},
        frozenset((s, l) for s in ("dev", "test") for l in ("de", "en")),
        ACCURACY,
    ),
    Case(
        "qqp",
        "udpos",
        lambda f: {"qqp": tiny.write_qqp(f / "QQP", train=8, dev=4), "udpos": tiny.write_ud(f / "ud")},
        frozenset({("dev", "en"), ("test", "de")}),
        F1_PRECISION_RECALL | ACCURACY,
    ),
    Case(
        "squad_v1",
        "panx",
        lambda f: {"squad_v1": tiny.write_squad_folder(f / "squad1", "1.1"), "panx": tiny.write_panx(f / "panx")},
        frozenset({("dev", "en"), ("dev", "de"), ("test", "de")}),
        F1_PRECISION_RECALL,
    ),
    Case("squad_v2", "xquad", _squad_v2_to_xquad, frozenset(("test", l) for l in ("en", "de", "zh")), SPAN_QA),
    Case(
        "hellaswag",
        "mlqa",
        _hellaswag_to_mlqa,
        frozenset((s, l) for s in ("dev", "test") for l in ("en", "de", "zh")),
        SPAN_QA,
    ),
    Case(
        "ccg",
        "tydiqa",
        lambda f: {"ccg": tiny.write_ccg(f / "ccg"), "tydiqa": tiny.write_tydiqa(f / "tydiqa")},
        frozenset(("test", l) for l in ("en", "sw")),
        SPAN_QA,
    ),
    Case(
        "cosmosqa",
        "bucc",
        lambda f: {"cosmosqa": tiny.write_cosmosqa(f / "cosmosqa"), "bucc": tiny.write_bucc(f / "bucc")},
        frozenset({("dev", "de"), ("test", "de")}),
        F1_PRECISION_RECALL,
        eval_only=True,
    ),
    Case(
        "commonsenseqa",
        "tatoeba",
        lambda f: {"commonsenseqa": tiny.write_commonsenseqa(f / "csqa"), "tatoeba": tiny.write_tatoeba(f / "tatoeba")},
        frozenset({("test", "de"), ("test", "fr")}),
        ACCURACY,
        eval_only=True,
    ),
]


def test_the_cases_pair_every_table_1_task_once():
    assert sorted(case.intermediate for case in CASES) == sorted(TABLE_1_INTERMEDIATE)
    assert sorted(case.target for case in CASES) == sorted(TABLE_1_TARGET)
    for case in CASES:
        assert "intermediate" in get_task(case.intermediate).phases
        phases = get_task(case.target).phases
        assert case.eval_only == (case.target in EVAL_ONLY) == ("target" not in phases)
        assert "evaluate" in phases


def _pipeline(path: Path, model: Path, case: Case, data: dict) -> Path:
    stages = [dict(kind="intermediate", tasks=[case.intermediate], **TRAINING)]
    if not case.eval_only:
        stages.append(dict(kind="target", task=case.target, **TRAINING))
    stages.append(dict(kind="evaluate", task=case.target))
    config = {
        "name": path.stem,
        "model": str(model),
        "seed": 1,
        "data": {task: str(folder) for task, folder in data.items()},
        "stages": stages,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.parametrize("case", CASES, ids=[f"{c.intermediate}-{c.target}" for c in CASES])
def test_intermediate_then_target_runs_from_release_files(case, tmp_path, tiny_model, capsys):
    data = case.write(tmp_path / "data")
    yaml_path = _pipeline(tmp_path / f"{case.intermediate}_to_{case.target}.yaml", tiny_model, case, data)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["run", yaml_path, "--output-dir", out], capsys)
    assert code == 0, stdout + stderr

    stages = sorted(path for path in out.iterdir() if path.is_dir())
    kinds = ["intermediate", "evaluate"] if case.eval_only else ["intermediate", "target", "evaluate"]
    assert sorted(path.name.split("-")[0] for path in stages) == sorted(kinds)
    for stage in stages:
        assert (stage / "COMPLETE").is_file(), stage.name
        if not stage.name.startswith("evaluate"):  # the stages that train save an encoder and heads
            model = AutoModel.from_pretrained(stage / "model")
            assert model.config.model_type == "xlm-roberta"
            trained = case.intermediate if stage.name.startswith("intermediate") else case.target
            assert (stage / "heads" / f"{trained}.safetensors").is_file()

    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {r["target"] for r in rows} == {case.target}
    assert {r["intermediate"] for r in rows} == {case.intermediate}
    assert {(r["split"], r["language"]) for r in rows} == case.scored
    assert {r["metric"] for r in rows} == case.metrics
    # the task's own metric (span QA: with exact match) for every split and language
    required = {get_task(case.target).metric} | (SPAN_QA if case.metrics == SPAN_QA else set())
    for split, language in case.scored:
        assert required <= {r["metric"] for r in rows if (r["split"], r["language"]) == (split, language)}
    assert all(0 <= float(r["value"]) <= 100 for r in rows)
    _assert_predictions_rescore(case, data, out, rows)
    _assert_predict_writes_a_submission(case, data, out, rows, tmp_path, capsys)


#: (data folder, split, language) -> the gold release file `stilts score` reads for it
GOLD_FILES = {
    "xnli": lambda folder, split, language: folder / f"{split}-{language}.tsv",
    "pawsx": lambda folder, split, language: folder / "x-final" / language / f"{split}_2k.tsv",
    "udpos": lambda folder, split, language: next(folder.glob(f"UD_*/{language}_*-ud-{split}.conllu")),
    "panx": lambda folder, split, language: (
        folder / (f"{split}-{language}.tsv" if split == "dev" else f"{language}/test")
    ),
    "xquad": lambda folder, split, language: folder / f"xquad.{language}.json",
    "mlqa": lambda folder, split, language: (
        folder / "MLQA_V1" / split / f"{split}-context-{language}-question-{language}.json"
    ),
    "tydiqa": lambda folder, split, language: next(
        folder.glob(f"tydiqa-goldp-v1.1-dev/*-{ {'en': 'english', 'sw': 'swahili'}[language] }.json")
    ),
    "bucc": lambda folder, split, language: folder / f"{language}-en.{split}.gold",
    "tatoeba": lambda folder, split, language: (
        folder / f"tatoeba.{ {'de': 'deu', 'fr': 'fra'}[language] }-eng.{ {'de': 'deu', 'fr': 'fra'}[language] }"
    ),
}


def _assert_predictions_rescore(case: Case, data: dict, out: Path, rows: list[dict]) -> None:
    """Every split and language the evaluation scored left its predictions in the official format, which
    `stilts score` scores exactly as scores.csv has it, and per-example rows that re-aggregate to it."""
    (evaluate,) = out.glob("evaluate-*")
    for split, language in case.scored:
        task = get_task(case.target)
        expected = {r["metric"]: float(r["value"]) for r in rows if (r["split"], r["language"]) == (split, language)}
        predictions = prediction_path(evaluate / PREDICTIONS_FOLDER, task, split, language)
        gold = GOLD_FILES[case.target](Path(data[case.target]), split, language)
        rescored = score(case.target, language, gold, predictions)
        for metric, value in expected.items():
            assert rescored[metric] == pytest.approx(value, abs=1e-9), (split, language, metric)
        per_example = read_example_rows(evaluate / PREDICTIONS_FOLDER, split, language)
        assert split_scores(per_example) == pytest.approx(expected, abs=1e-9), (split, language)
        # each row says what it is about (sentence, pair, question, words), to read the errors by
        assert all(row["text"] and all(row["text"].values()) for row in per_example), per_example[0]


def _strip_labels(target: str, folder: Path) -> None:
    """Blank the labels of a copy of ``target``'s files as XTREME does for its test sets (UD keeps its
    tags, Tatoeba has none to blank)."""
    if target == "xnli":
        for path in folder.glob("*-*.tsv"):
            path.write_text("".join("\t".join(line.split("\t")[:2]) + "\n" for line in path.read_text().splitlines()))
    elif target == "pawsx":
        for path in folder.glob("x-final/*/*_2k.tsv"):
            path.write_text("".join("\t".join(line.split("\t")[:3]) + "\n" for line in path.read_text().splitlines()))
    elif target == "panx":
        for path in [*folder.glob("dev-*.tsv"), *folder.glob("*/test")]:
            path.write_text("".join(line.split("\t")[0] + "\n" for line in path.read_text().splitlines()))
    elif target in ("xquad", "mlqa", "tydiqa"):
        for path in folder.rglob("*.json"):
            document = json.loads(path.read_text())
            for article in document["data"]:
                for paragraph in article["paragraphs"]:
                    for question in paragraph["qas"]:
                        question["answers"] = []
            path.write_text(json.dumps(document))
    elif target == "bucc":
        for path in folder.glob("*.gold"):
            path.unlink()


#: files that had no labels to begin with: the evaluation skipped them, `stilts predict` writes them
UNLABELLED_FROM_THE_START = {"panx": {"test-en.tsv"}}


def _assert_predict_writes_a_submission(case: Case, data: dict, out: Path, rows: list[dict], tmp_path, capsys) -> None:
    """`stilts predict` on the run folder and label-less copies of the files writes XTREME's submission
    layout, and its files score as the evaluation did."""
    task = get_task(case.target)
    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(data[case.target], unlabelled)
    _strip_labels(case.target, unlabelled)
    submission = tmp_path / "submission"
    for split in sorted({split for split, _ in case.scored}):
        command = ["predict", out, "--split", split, "--data", f"{case.target}={unlabelled}", "--output", submission]
        code, stdout, stderr = run_cli(command, capsys)
        assert code == 0, stdout + stderr
    folder = submission / {"bucc": "bucc2018"}.get(case.target, case.target)
    assert {path.name for path in folder.iterdir()} == {
        f"{split}-{language}.{task.format.prediction_suffix}" for split, language in case.scored
    } | UNLABELLED_FROM_THE_START.get(case.target, set())
    for split, language in case.scored:
        gold = GOLD_FILES[case.target](Path(data[case.target]), split, language)
        rescored = score(case.target, language, gold, prediction_path(folder, task, split, language))
        for row in rows:
            if (row["split"], row["language"]) == (split, language):
                assert rescored[row["metric"]] == pytest.approx(float(row["value"]), abs=1e-9), (split, language)
