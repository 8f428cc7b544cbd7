"""`stilts table --calibration`: per language, how well the zero-shot model's confidence matches its accuracy,
before and after temperature scaling fitted on English dev (`stilts.analysis.calibration`).

For every run of the scores.csv (a configuration, target and seed) whose evaluate stage kept each example's
answer probabilities (`stilts.reports.prediction_files`, classification and multiple-choice formats), and for
each language of the split:

- the top-label expected calibration error (ECE, Guo et al. 2017) of the stored probabilities;
- the temperature ``T`` that minimises the negative log-likelihood on the run's own English (source-language)
  dev predictions (the evaluation's, or where it scores no English dev, those it kept unscored: XCOPA's are
  COPA's English dev), and the ECE of every language's probabilities scaled by it: ``softmax(log p / T)``, the
  same as dividing the logits by ``T`` (a row's constant drops out of a softmax). Scaling changes no
  prediction, so the accuracy stays; English dev is where it is fitted, so its scaled ECE is in-sample.

The table shows, per configuration, the mean over its seeds of each language's ECE (in points, 0-100) and of
the scaled one, each its own row; ``reliability`` holds the reliability diagram's bins of every run, language
and scaling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stilts.analysis import calibration as cal
from stilts.core.artifacts import COMPLETE
from stilts.core.catalog import get_task
from stilts.core.errors import BadInput
from stilts.core.names import RUN_KEYS, configuration_name
from stilts.reports.bootstrap import example_folders, folder_of, stage_folder
from stilts.reports.order import language_sort_key, sort_configs
from stilts.reports.prediction_files import (
    CALIBRATION_SPLIT,
    CALIBRATION_SUFFIX,
    EXAMPLES_SUFFIX,
    PROBABILITIES,
    examples_path,
    read_example_rows,
)
from stilts.reports.render import Grid
from stilts.reports.scores import source_of
from stilts.reports.scores_file import STAGE

#: the smallest probability taken as it is before its log: a stored 0 (a logit gap beyond float64's range) would
#: be log 0 = -inf, which no temperature can scale
SMALLEST_PROBABILITY = 1e-300


@dataclass
class Calibration:
    """``runs``: one row per run and language (configuration, target, seed, language, examples, accuracy,
    confidence, ece, temperature, ece_scaled; ECE and accuracy as fractions); ``reliability``: the bins of
    each run, language and scaling; notes."""

    split: str
    bins: int
    runs: pd.DataFrame
    reliability: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _answers(rows: list[dict], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(log-probabilities, N x answers; the gold answer's column) of per-example rows with probabilities."""
    logits, gold = [], []
    for number, row in enumerate(rows, start=1):
        answers = row.get(PROBABILITIES)
        if not isinstance(answers, dict) or str(row.get("gold")) not in answers:
            raise BadInput(f"{path}: row {number}: no probability of its gold answer {row.get('gold')!r}")
        names = list(answers)
        probabilities = np.maximum(
            np.asarray([answers[name] for name in names], dtype=np.float64), SMALLEST_PROBABILITY
        )
        logits.append(np.log(probabilities))
        gold.append(names.index(str(row["gold"])))
    width = max(len(row) for row in logits)
    if any(len(row) != width for row in logits):  # questions with different numbers of choices
        logits = [np.concatenate([row, np.full(width - len(row), np.log(SMALLEST_PROBABILITY))]) for row in logits]
    return np.stack(logits), np.asarray(gold, dtype=np.int64)


def _has_probabilities(folder: Path, split: str, language: str, suffix: str = EXAMPLES_SUFFIX) -> bool:
    path = examples_path(folder, split, language, suffix)
    if not path.is_file():
        return False
    with path.open(encoding="utf-8") as handle:
        first = handle.readline()
    return f'"{PROBABILITIES}"' in first


def calibration(scores: pd.DataFrame, run_dir: Path, split: str, bins: int = cal.DEFAULT_BINS) -> Calibration:
    """The calibration of every run of ``scores`` (a scores.csv, read) on ``split``, from the per-example rows
    of its evaluate stage in ``run_dir``."""
    rows = scores[scores["split"] == split]
    if rows.empty:
        raise BadInput(f"{source_of(scores)}: --calibration: no rows with split '{split}'")
    folders = example_folders(run_dir) if (rows[STAGE] == "").any() else {}
    records, bins_rows, notes = [], [], []
    without: list[str] = []
    others: list[str] = []
    runs = rows.drop_duplicates([*RUN_KEYS, STAGE])
    for run in runs.itertuples(index=False):
        pipeline, intermediate, mlm, target, seed = (getattr(run, key) for key in RUN_KEYS)
        stage = getattr(run, STAGE)
        folder = stage_folder(run_dir, stage) if stage else folder_of(folders, pipeline, target, seed)
        if folder is None and stage and (run_dir / stage / COMPLETE).is_file():
            others.append(f"{pipeline} ({stage})")  # a complete stage that is no evaluation: few-shot's sets
            continue
        task = get_task(target)
        languages = sorted(set(rows.loc[(rows["pipeline"] == pipeline) & (rows["target"] == target), "language"]))
        if folder is None or not any(_has_probabilities(folder, split, language) for language in languages):
            without.append(f"{pipeline} ({stage or 'no stage'})")
            continue
        temperature = math.nan
        fit = (CALIBRATION_SPLIT, task.source_language)
        # the evaluation's own source-language dev, or the one it kept unscored (XCOPA's English: COPA's)
        suffix = next((s for s in (EXAMPLES_SUFFIX, CALIBRATION_SUFFIX) if _has_probabilities(folder, *fit, s)), None)
        if suffix is not None:
            rows_path = examples_path(folder, *fit, suffix)
            temperature = cal.fit_temperature(*_answers(read_example_rows(folder, *fit, suffix), rows_path))
        else:
            notes.append(
                f"{pipeline}: no {task.source_language} {CALIBRATION_SPLIT} predictions to fit a temperature on."
            )
        for language in languages:
            if not _has_probabilities(folder, split, language):
                continue
            path = examples_path(folder, split, language)
            logits, gold = _answers(read_example_rows(folder, split, language), path)
            record = {
                "intermediate": intermediate,
                "mlm": bool(mlm),
                "target": target,
                "seed": seed,
                "language": language,
                "examples": len(gold),
                "temperature": temperature,
            }
            for scaled, scale in (("", 1.0), ("_scaled", temperature)):
                if math.isnan(scale):
                    record[f"ece{scaled}"] = math.nan
                    continue
                confidence, correct = cal.top_label(cal.softmax(logits, scale), gold)
                record[f"ece{scaled}"] = cal.expected_calibration_error(confidence, correct, bins)
                if not scaled:
                    record["accuracy"], record["confidence"] = float(correct.mean()), float(confidence.mean())
                    record["nll"] = cal.negative_log_likelihood(logits, gold)
                else:
                    record["nll_scaled"] = cal.negative_log_likelihood(logits, gold, scale)
                diagram = cal.reliability_bins(confidence, correct, bins)
                bins_rows.append(
                    diagram.assign(
                        intermediate=intermediate,
                        mlm=bool(mlm),
                        target=target,
                        seed=seed,
                        language=language,
                        scaled=bool(scaled),
                    )
                )
            records.append(record)
    if without:
        notes.append(
            f"no answer probabilities kept for {len(without)} run(s) ({', '.join(without[:3])}"
            f"{', ...' if len(without) > 3 else ''}): their task format has none, or their evaluate stage ran "
            "before stilts kept them (delete the stage folder and run the sweep again to redo it)."
        )
    if others:
        notes.append(
            f"left out: {len(others)} run(s) scored by stages that are not evaluations ({', '.join(others[:3])}"
            f"{', ...' if len(others) > 3 else ''}; few-shot stages keep no answer probabilities)."
        )
    if not records:
        raise BadInput(
            f"{source_of(scores)}: --calibration: no run on '{split}' has answer probabilities in its evaluate "
            f"stage's per-example rows ({notes[-1] if notes else 'none found'})"
        )
    columns = ["intermediate", "mlm", "target", "seed", "language", "examples", "accuracy", "confidence"]
    columns += ["ece", "nll", "temperature", "ece_scaled", "nll_scaled"]
    reliability = pd.concat(bins_rows, ignore_index=True)
    first = ["intermediate", "mlm", "target", "seed", "language", "scaled"]
    reliability = reliability[first + [c for c in reliability.columns if c not in first]]
    return Calibration(split, bins, pd.DataFrame(records).reindex(columns=columns), reliability, notes)


def calibration_grids(result: Calibration) -> list[Grid]:
    """Per target: rows configuration x (ECE, ECE after temperature scaling), columns languages and their
    mean, cells the mean over seeds in points (0-100)."""
    grids = []
    for target, runs in result.runs.groupby("target", sort=False):
        languages = sorted(set(runs["language"]), key=language_sort_key)
        body = []
        for intermediate, mlm in sort_configs(zip(runs["intermediate"], runs["mlm"])):
            own = runs[(runs["intermediate"] == intermediate) & (runs["mlm"] == mlm)]
            seeds = own["seed"].nunique()
            temperature = own.drop_duplicates("seed")["temperature"].mean()
            name = configuration_name(intermediate, mlm)
            for column, label in (("ece", "ECE"), ("ece_scaled", f"ECE, T = {temperature:.2f}")):
                if column == "ece_scaled" and math.isnan(temperature):
                    continue
                means = own.groupby("language")[column].mean()
                cells = [f"{100 * means[language]:.1f}" if language in means else "-" for language in languages]
                body.append([name, label, str(seeds), *cells, f"{100 * means.mean():.1f}"])
        caption = (
            f"{target} ({result.split}): top-label expected calibration error, in points (0-100, lower is better), "
            f"{result.bins} equal-width bins, the mean over seeds; T: the temperature fitted on each run's "
            "English dev (their mean), applied to every language."
        )
        header = ["Intermediate", "calibration", "seeds", *languages, "avg"]
        grids.append(Grid(header, body, right_from=2, caption=caption))
    grids[-1].notes = list(result.notes)
    return grids
