"""Paired bootstrap confidence intervals for transfer tables (`stilts table --ci LEVEL`).

A cell is the median over seeds of each run's language-averaged score, and a delta is a cell minus the
baseline's. Both vary with the evaluation examples and with the seeds, so one bootstrap replicate
redraws both:

- the examples: per target and language, one multinomial resample of its scored units (examples,
  sentences, questions; BUCC: source sentences), the same draw for every run, which makes the delta
  paired (a system right on exactly the examples another misses is compared on the same draw);
- the seeds: per configuration and target, its runs drawn with replacement (a configuration: an
  intermediate task and MLM flag, or with `--by pipeline` a pipeline's runs), one draw for every column
  of that target (each language, the language average, F1 and EM), from a generator of its own
  (`seed_draws`), so that a cell's interval does not depend on the table that shows it: the
  per-language table's Avg is the main table's cell, interval included.

A k-shot run (a few-shot stage's rows, seed ``<seed>/set<i>``) is scored on a draw as the table scores it:
each set on the drawn examples it scored (its shots drawn from dev are not among them), then the mean
over its sets; the seeds are drawn as for any configuration, never its sets (they are not seeds).

Each run's score on a draw comes from its evaluate stage's per-example rows (`stilts.reports.prediction_files`):
every metric is ``100 * sum(numerators) / sum(denominators)`` of the rows drawn, so the draw of a run
is exact for accuracy, SQuAD F1/EM, seqeval chunk F1 and BUCC F1 alike. The interval is the
percentile interval of the replicates; a delta whose interval excludes 0 is marked. Deterministic for
a given ``seed``.

A group of languages (`stilts table --group-languages`) is a column as a language is: on each draw, each
run's mean over the group's languages, then the median over the drawn seeds; its interval is that of the
group's cell recomputed on every draw, never a mean of its languages' intervals. `cell_draws` hands the draws
themselves to what fits more than one cell at a time (`--distance`'s slope, re-fitted on each draw).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stilts.core.artifacts import COMPLETE, read_json
from stilts.core.errors import BadInput
from stilts.core.names import CONFIG_KEYS, RUN_KEYS, base_seed, split_setting
from stilts.reports.aggregate import group_scores, has_sets, main_metric_rows
from stilts.reports.order import BASELINE_CONFIG, config_of, config_text
from stilts.reports.prediction_files import EXAMPLE_ROWS, PREDICTIONS_FOLDER, read_example_rows
from stilts.reports.scores import PIPELINE_NAME, source_of
from stilts.reports.scores_file import STAGE

DEFAULT_RESAMPLES = 1000
#: how far a run's score recomputed from its per-example rows may be from scores.csv (float sums)
RESCORE_TOLERANCE = 1e-6


@dataclass
class Intervals:
    """Per shown cell (same index and columns as the table's values): the interval's ends, and the
    standard deviation over seeds of the configuration's own values (NaN with one seed)."""

    low: pd.DataFrame
    high: pd.DataFrame
    sd: pd.DataFrame
    #: the same for one number per column group (a QA target's mean(F1, EM)), as the heatmap shows
    group_low: pd.DataFrame
    group_high: pd.DataFrame
    level: float
    #: whether the intervals are of deltas (then a cell is significant when its interval excludes 0)
    of_deltas: bool
    method: str

    def significant(self) -> pd.DataFrame:
        return (self.low > 0) | (self.high < 0)

    def group_significant(self) -> pd.DataFrame:
        return (self.group_low > 0) | (self.group_high < 0)


def example_folders(run_dir: Path) -> dict[tuple[str, str, str | None], Path]:
    """For rows that name no stage (a scores.csv from before the column):
    (pipeline, target, seed) -> the predictions/ folder of the complete evaluate stage that scored it.
    A stage that several pipelines share (stages.json lists them) serves each of them. The seed is the
    stage's (its scores.csv rows'): a pipeline re-run with another seed keeps its name, and its stages
    are other folders; None for a config.json without one (see `folder_of`)."""
    found: dict[tuple[str, str, str | None], Path] = {}
    recorded = read_json(run_dir / "stages.json") if (run_dir / "stages.json").is_file() else {}
    for config_path in sorted(run_dir.glob("*/config.json")):
        folder = config_path.parent
        config = read_json(config_path)
        if config.get("kind") != "evaluate" or not (folder / COMPLETE).is_file():
            continue
        pipelines = recorded.get(config.get("fingerprint"), {}).get("pipelines") or [config.get("pipeline")]
        seed = config["settings"].get("seed")
        for pipeline in pipelines:
            found[(pipeline, config["settings"]["task"], None if seed is None else str(seed))] = (
                folder / PREDICTIONS_FOLDER
            )
    return found


def folder_of(folders: dict, pipeline: str, target: str, seed: str) -> Path | None:
    """The predictions/ folder of a run whose rows name no stage (`example_folders`); a stage without a
    recorded seed serves any."""
    return folders.get((pipeline, target, seed)) or folders.get((pipeline, target, None))


def set_folder(run_dir: Path, stage: str, seed: str) -> Path | None:
    """The per-example rows' folder of one set of shots (a scores.csv seed ``1/set0``) of the complete
    stage that scored it: ``<stage>/predictions/set0``; None where there is none."""
    folder = run_dir / stage / PREDICTIONS_FOLDER / split_setting(seed)[1]
    return folder if (run_dir / stage / COMPLETE).is_file() and folder.is_dir() else None


def stage_folder(run_dir: Path, stage: str) -> Path | None:
    """The predictions/ folder of the evaluation that scores.csv rows name; None unless it is a complete
    stage in ``run_dir`` that keeps one evaluation's per-example rows there: an evaluate stage, or one
    whose metrics.json says so (`EXAMPLE_ROWS`: a translate_test stage's; not a few-shot stage's, whose
    rows are per set of shots)."""
    folder = run_dir / stage
    if not (folder / COMPLETE).is_file():
        return None
    if read_json(folder / "config.json").get("kind") == "evaluate":
        return folder / PREDICTIONS_FOLDER
    metrics = folder / "metrics.json"
    if metrics.is_file() and read_json(metrics).get(EXAMPLE_ROWS) == PREDICTIONS_FOLDER:
        return folder / PREDICTIONS_FOLDER
    return None


class _Units:
    """One target and language: every run's per-example [numerator, denominator] per metric, aligned on
    the union of their unit ids (a unit a run has no row for counts 0/0: a BUCC source sentence with
    neither a gold nor a mined pair)."""

    def __init__(self, rows_by_run: dict[tuple, list[dict]], metrics: Iterable[str]):
        ids = list(dict.fromkeys(row["id"] for rows in rows_by_run.values() for row in rows))
        position = {unit: i for i, unit in enumerate(ids)}
        self.size = len(ids)
        self.parts: dict[tuple, dict[str, np.ndarray]] = {}
        for run, rows in rows_by_run.items():
            arrays = {}
            for metric in metrics:
                numbers = np.zeros((2, self.size))
                for row in rows:
                    numbers[:, position[row["id"]]] = row["metrics"][metric]
                arrays[metric] = numbers
            self.parts[run] = arrays

    def replicates(self, weights: np.ndarray) -> dict[tuple, dict[str, np.ndarray]]:
        """Per run and metric, its value (0-100) on each draw; ``weights``: (draws, units) counts."""
        out: dict[tuple, dict[str, np.ndarray]] = {}
        for run, arrays in self.parts.items():
            out[run] = {}
            for metric, (numerators, denominators) in arrays.items():
                top, bottom = weights @ numerators, weights @ denominators
                out[run][metric] = np.divide(100.0 * top, bottom, out=np.zeros_like(top), where=bottom != 0)
        return out


def _check_rescore(rows: list[dict], metric: str, expected: float, where: str) -> None:
    from stilts.metrics.per_example import metric_value

    found = metric_value(rows, metric)
    if abs(found - expected) > RESCORE_TOLERANCE:
        raise BadInput(
            f"{where}: its per-example rows give {metric} {found:.4f}, scores.csv has {expected:.4f} "
            "(a stale folder, or scores.csv from another run)"
        )


def run_replicates(
    scores: pd.DataFrame, run_dir: Path, split: str, n_resamples: int, rng: np.random.Generator
) -> tuple[dict[tuple, dict[tuple[str, str], np.ndarray]], pd.DataFrame]:
    """Per run (RUN_KEYS), per (language, metric) and ("avg", metric): its score on each draw of the
    examples; and the main-metric rows of ``split`` it was computed from."""
    rows = main_metric_rows(scores[scores["split"] == split])
    folders = example_folders(run_dir) if (rows[STAGE] == "").any() else {}
    replicates: dict[tuple, dict[tuple[str, str], np.ndarray]] = {}
    for target, target_rows in sorted(rows.groupby("target"), key=lambda item: item[0]):
        metrics = list(dict.fromkeys(target_rows["metric"]))
        for language, language_rows in sorted(target_rows.groupby("language"), key=lambda item: item[0]):
            by_run: dict[tuple, list[dict]] = {}
            for run, run_rows in language_rows.groupby(RUN_KEYS, sort=True):
                # by pipeline, run[0] is the run's row (`pipeline_rows`); its stage is found by its name
                pipeline = run_rows[PIPELINE_NAME].iloc[0] if PIPELINE_NAME in run_rows else run[0]
                stage = run_rows[STAGE].iloc[0]  # one per run and split (`check_one_stage_per_run`)
                if not stage:
                    folder = folder_of(folders, pipeline, target, run[4])
                elif has_sets(run_rows).iloc[0]:
                    folder = set_folder(run_dir, stage, run[4])
                else:
                    folder = stage_folder(run_dir, stage)
                if folder is None:
                    which = f"stage {stage}, which wrote its rows," if stage else "evaluate stage"
                    raise BadInput(
                        f"{source_of(scores)}: --ci: no complete {which} of pipeline '{pipeline}' for {target} "
                        f"in {run_dir} (the intervals resample its per-example predictions)"
                    )
                examples = read_example_rows(folder, split, language)
                for metric, value in zip(run_rows["metric"], run_rows["value"]):
                    _check_rescore(examples, metric, value, f"{folder}/{split}-{language}")
                by_run[run] = examples
            units = _Units(by_run, metrics)
            weights = rng.multinomial(units.size, np.full(units.size, 1.0 / units.size), size=n_resamples)
            for run, values in units.replicates(weights).items():
                for metric, draws in values.items():
                    replicates.setdefault(run, {})[(language, metric)] = draws
    for columns in replicates.values():  # the run's language average, as run_averages takes it
        for metric in dict.fromkeys(metric for _, metric in columns):
            per_language = [draws for (language, m), draws in columns.items() if m == metric and language != "avg"]
            columns[("avg", metric)] = np.mean(per_language, axis=0)
    return replicates, rows


def seed_draws(seed: int, config: Hashable, target: str, n_runs: int, n_draws: int) -> np.ndarray:
    """(draws, runs): the runs (indices into the cell's runs) each draw takes, with replacement. The
    generator is seeded by the table's ``seed``, the configuration and the target alone, not by where
    in a loop the cell comes, so the main table and the per-language table draw the same seeds."""
    key = hashlib.sha256(repr((str(config), target)).encode("utf-8")).digest()
    rng = np.random.default_rng([seed, int.from_bytes(key[:8], "little")])
    return rng.integers(0, n_runs, size=(n_draws, n_runs))


def _seed_resampled_medians(draws: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """``draws``: (runs, replicates); per replicate, the median over the runs ``chosen`` (`seed_draws`)."""
    n_draws = draws.shape[1]
    return np.median(draws.T[np.arange(n_draws)[:, None], chosen], axis=1)


def _with_groups(columns: dict[tuple[str, str], np.ndarray], groups: Mapping[str, str]) -> None:
    """Add to a run's draws (`run_replicates`) one column per group of languages and metric: the mean over
    the run's languages in the group, as `aggregate.language_cells` takes a group's cell from a run."""
    members: dict[tuple[str, str], list[np.ndarray]] = {}
    for (language, metric), draws in columns.items():
        if language != "avg":
            members.setdefault((groups[language], metric), []).append(draws)
    for column, of_group in members.items():
        columns[column] = np.mean(of_group, axis=0)


def cell_draws(
    scores: pd.DataFrame,
    values: pd.DataFrame,
    *,
    run_dir: Path,
    split: str,
    per_language: str | None = None,
    delta: bool = True,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    config_keys: Sequence[str] = CONFIG_KEYS,
    baseline=BASELINE_CONFIG,
    groups: Mapping[str, str] | None = None,
) -> tuple[dict[Hashable, pd.DataFrame], pd.DataFrame]:
    """Every cell of ``values`` (the table before deltas: `transfer_cells` plus the Avg. column, or
    `language_cells`, by the same ``config_keys`` and ``groups``) on each bootstrap draw: per configuration a
    (draws x ``values.columns``) frame, of its delta to the ``baseline`` row when ``delta`` (the baseline's own
    frame then left out); and the standard deviation over seeds of each cell's observed value."""
    replicates, rows = run_replicates(scores, run_dir, split, n_resamples, np.random.default_rng(seed))
    if groups is not None:
        for run, of_run in replicates.items():
            if _run_target(run) == per_language:
                _with_groups(of_run, groups)
    runs_of = rows.drop_duplicates(RUN_KEYS).groupby(list(config_keys) + ["target"])
    cells: dict[Hashable, dict[tuple, np.ndarray]] = {}  # config -> column -> (replicates,)
    sd = pd.DataFrame(np.nan, index=values.index, columns=values.columns)
    for (*parts, target), run_rows in runs_of:
        config = config_of(parts, config_keys)
        if config not in values.index or per_language and target != per_language:
            continue
        runs = [tuple(run) for run in run_rows[RUN_KEYS].itertuples(index=False)]
        seeds = _seed_runs(runs)
        chosen = seed_draws(seed, config, target, len(seeds), n_resamples)
        columns = replicates[runs[0]].keys() if per_language else [c for c in replicates[runs[0]] if c[0] == "avg"]
        for group, metric in columns:
            column = (group, metric) if per_language else (target, metric)
            if column not in values.columns:
                continue
            # a seed's score on each draw: its run's, or the mean over its sets of shots
            stacked = np.stack([np.mean([replicates[run][(group, metric)] for run in sets], axis=0) for sets in seeds])
            cells.setdefault(config, {})[column] = _seed_resampled_medians(stacked, chosen)
            # a k-shot cell's ± is its spread over the sets (`aggregate.set_spreads`), not over seeds
            if len(runs) > 1 and len(seeds) == len(runs):
                languages = None if group == "avg" else _languages_of(group, groups)
                observed = [replicates_point(rows, run, target, languages, metric) for run in runs]
                sd.at[config, column] = float(np.std(observed, ddof=1))
    frames = {config: pd.DataFrame(columns, index=range(n_resamples)) for config, columns in cells.items()}
    if ("avg", "score") in values.columns:  # the main table's Avg.: mean over targets, QA as mean(F1, EM)
        for frame in frames.values():
            per_target = group_scores(frame.reindex(columns=values.columns.drop(("avg", "score"))))
            frame[("avg", "score")] = per_target.mean(axis=1, skipna=False)
    if delta:
        if baseline not in frames:
            raise BadInput(
                f"{source_of(scores)}: --ci: no baseline runs ({config_text(baseline, config_keys)}) "
                "to pair the deltas with"
            )
        base = frames[baseline]
        frames = {config: frame - base for config, frame in frames.items() if config != baseline}
    return {config: frame.reindex(columns=values.columns) for config, frame in frames.items()}, sd


def _run_target(run: tuple) -> str:
    return run[RUN_KEYS.index("target")]


def _languages_of(column: str, groups: Mapping[str, str] | None) -> list[str]:
    """The languages of a per-language table's column: itself, or with ``groups`` those of its group."""
    if groups is None:
        return [column]
    return [language for language, group in groups.items() if group == column]


def table_intervals(
    scores: pd.DataFrame,
    values: pd.DataFrame,
    *,
    run_dir: Path,
    split: str,
    level: float,
    per_language: str | None = None,
    delta: bool = True,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    config_keys: Sequence[str] = CONFIG_KEYS,
    baseline=BASELINE_CONFIG,
    groups: Mapping[str, str] | None = None,
) -> Intervals:
    """Intervals for every cell of ``values`` (see `cell_draws`), of its delta to the ``baseline`` row when
    ``delta``: a group of languages' (``groups``: language -> its column) is the percentile interval of the
    group's cell recomputed on each draw, not a mean of its languages' intervals."""
    frames, sd = cell_draws(
        scores,
        values,
        run_dir=run_dir,
        split=split,
        per_language=per_language,
        delta=delta,
        n_resamples=n_resamples,
        seed=seed,
        config_keys=config_keys,
        baseline=baseline,
        groups=groups,
    )
    shown_index = values.index.drop(baseline) if delta else values.index
    tail = (1.0 - level / 100.0) / 2.0
    low = pd.DataFrame(np.nan, index=shown_index, columns=values.columns)
    high = low.copy()
    group_columns = group_scores(values).columns
    group_low = pd.DataFrame(np.nan, index=shown_index, columns=group_columns)
    group_high = group_low.copy()
    for config, frame in frames.items():
        low.loc[config] = frame.quantile(tail).to_numpy()
        high.loc[config] = frame.quantile(1.0 - tail).to_numpy()
        by_group = group_scores(frame)
        group_low.loc[config] = by_group.quantile(tail).to_numpy()
        group_high.loc[config] = by_group.quantile(1.0 - tail).to_numpy()
    return Intervals(low, high, sd, group_low, group_high, level, delta, bootstrap_method(level, n_resamples, seed))


def bootstrap_method(level: float, n_resamples: int, seed: int) -> str:
    """What the intervals are, for a caption."""
    return (
        f"{level:g}% paired bootstrap intervals ({n_resamples} draws of the evaluation examples, the same "
        f"draw for every configuration, and of each configuration's seeds; seed {seed})"
    )


def _seed_runs(runs: list[tuple]) -> list[list[tuple]]:
    """A cell's runs by seed: each seed's run alone, or a k-shot seed's runs of its sets together."""
    by_seed: dict[str, list[tuple]] = {}
    for run in runs:
        by_seed.setdefault(base_seed(run[RUN_KEYS.index("seed")]), []).append(run)
    return list(by_seed.values())


def replicates_point(rows: pd.DataFrame, run: tuple, target: str, languages: list[str] | None, metric: str) -> float:
    """The run's observed value of a column: its mean over ``languages`` (one language's score, or a group's
    mean), or over all its languages (None: its language average)."""
    mask = (rows[RUN_KEYS] == pd.Series(run, index=RUN_KEYS)).all(axis=1) & (rows["metric"] == metric)
    mask &= rows["target"] == target
    if languages is not None:
        mask &= rows["language"].isin(languages)
    return float(rows.loc[mask, "value"].mean())
