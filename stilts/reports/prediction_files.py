"""Prediction files: what an evaluate stage keeps per split and language, and what `stilts predict` writes.

`stilts predict` writes them where each task's benchmark evaluator reads them (`submission_path`):
XTREME's ``<output>/<task>/<split>-<lang>.<suffix>``, or for XGLUE's tasks XGLUE's
``<output>/<TASK>/<lang>.prediction`` (its ``xglue_evaluate.py --split`` says which split is scored, so
one output folder holds one split).

For each split and language, two files named after XTREME's submission files (``test-de.tsv``):

- ``<split>-<language>.<suffix>``: the predictions in the official scripts' format (the task format's
  `prediction_text`; ``json`` for QA, ``tsv`` otherwise), which `stilts score` scores against the gold
  release file and the XTREME leaderboard takes as they are;
- ``<split>-<language>.examples.jsonl`` (labelled data only): one row per scored unit with its id, text,
  gold, prediction and per-metric ``[numerator, denominator]`` (`stilts.metrics.per_example`), which
  re-aggregate to the split's scores and are what confidence intervals resample; for formats whose
  prediction is one answer among a few (classification, multiple choice), also ``probabilities``: the
  model's probability of each answer, keyed as gold and prediction are written (`TaskFormat.probabilities`),
  what `stilts table --calibration` measures; where the evaluation does not score the task's source-language
  dev (XCOPA), those rows are kept unscored as ``dev-en.calibration.jsonl`` to fit a temperature on.
"""

from __future__ import annotations

import json
from pathlib import Path

from stilts.core.artifacts import redo_stage, write_text_atomic
from stilts.core.catalog import Task
from stilts.core.errors import BadInput, RunFailed, one_line

#: a stage folder's sub-folder of prediction files
PREDICTIONS_FOLDER = "predictions"
EXAMPLES_SUFFIX = "examples.jsonl"
#: the key of an evaluation's metrics.json that names the folder of its per-example rows (an evaluate or
#: translate_test stage's ``predictions``): the stages `stilts table --ci` and ``--calibration`` read
EXAMPLE_ROWS = "example_rows"
#: the per-example rows' field of answer -> probability (formats that choose among a few answers)
PROBABILITIES = "probabilities"
#: ``<split>-<language>.calibration.jsonl``: per-example rows of the task's source-language dev, kept (not
#: scored) where an evaluation has no such split and language of its own (XCOPA, whose English is COPA's dev,
#: where its target stage chose its model): what a temperature is fitted on
CALIBRATION_SUFFIX = "calibration.jsonl"
#: the split of the task's source language a temperature is fitted on
CALIBRATION_SPLIT = "dev"


def prediction_path(folder: Path, task: Task, split: str, language: str) -> Path:
    return folder / f"{split}-{language}.{task.format.prediction_suffix}"


def examples_path(folder: Path, split: str, language: str, suffix: str = EXAMPLES_SUFFIX) -> Path:
    return folder / f"{split}-{language}.{suffix}"


def submission_path(output: Path, task: Task, split: str, language: str) -> Path:
    """Where ``task``'s benchmark evaluator reads its predictions for ``split`` and ``language``, as the
    task's declaration says (`stilts.core.catalog.Submission`): XGLUE's layout for XGLUE's tasks, XTREME's
    (which names the split) for every other task."""
    layout = task.submission
    name = layout.file.format(split=split, language=language, suffix=task.format.prediction_suffix)
    return output / (layout.folder or task.name) / name


def write_prediction_file(path: Path, task: Task, predictions: list, examples: list[dict], state: dict) -> Path:
    """``predictions`` in the task's official prediction format, at ``path``; returns it."""
    write_text_atomic(path, task.format.prediction_text(predictions, examples, task, state))
    return path


def write_predictions(
    folder: Path, task: Task, split: str, language: str, predictions: list, examples: list[dict], state: dict
) -> Path:
    """The official prediction file of one split and language in an evaluate stage's ``folder``."""
    return write_prediction_file(prediction_path(folder, task, split, language), task, predictions, examples, state)


def write_example_rows(
    folder: Path, split: str, language: str, rows: list[dict], suffix: str = EXAMPLES_SUFFIX
) -> Path:
    path = examples_path(folder, split, language, suffix)
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def read_example_rows(folder: Path, split: str, language: str, suffix: str = EXAMPLES_SUFFIX) -> list[dict]:
    path = examples_path(folder, split, language, suffix)
    if not path.is_file():
        raise BadInput(f"{path}: no such file (evaluate stages written before stilts kept per-example rows lack it)")
    stage = folder.parent if folder.name == PREDICTIONS_FOLDER else folder
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except ValueError as error:  # not UTF-8: a file stilts did not write whole
        raise RunFailed(f"{path}: damaged ({one_line(error)}); {redo_stage(stage)}") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:  # cut short by a full disk or a copy that stopped
            raise RunFailed(
                f"{path}: line {number}: damaged (not JSON: {one_line(error)}); {redo_stage(stage)}"
            ) from None
        if not isinstance(row, dict):
            raise RunFailed(f"{path}: line {number}: damaged (not a JSON object); {redo_stage(stage)}")
        rows.append(row)
    return rows
