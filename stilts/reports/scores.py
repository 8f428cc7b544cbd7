"""Read `scores.csv` and aggregate it into transfer tables.

`scores.csv` is the long-format file every run appends to (see docs/concepts.md, "scores.csv"):

    pipeline, intermediate, mlm, target, seed, split, language, metric, value, stage

Aggregation follows the paper's reporting (docs/method.md, "Reporting"):

- a *run* is (pipeline, intermediate, mlm, target, seed); its score on a split is the mean over
  languages of the target's main metric, whose rows must all come from one evaluate stage (`stage`);
- a *configuration* is (intermediate, mlm), or with `stilts table --by pipeline` the pipeline's name
  (``config_keys``: stilts.core.names ``CONFIG_KEYS_BY``; a sweep's names without their target and seed,
  `pipeline_row`); its cell is the median over its runs, which must be its seeds (one run per seed,
  `check_one_run_per_seed`);
- a QA target (xquad, mlqa, tydiqa) keeps F1 and exact match side by side, and counts as
  mean(F1, EM) wherever a single number per task is needed (Avg., best-by-dev, XTREME score);
- a benchmark's score (XTREME's, XGLUE's understanding score) is the unweighted mean of its targets'
  best-by-dev scores, each target counting its main metric(s) (its declaration's
  ``Task.main_metrics``: XGLUE's MLQA is F1 alone, its POS seqeval precision, its WPR nDCG).

Task facts (main metrics, benchmarks and their orders) come from the registered declarations
(`stilts.core.catalog`), which import no torch.

Every function here is pure: DataFrames in, DataFrames out. Only `load_scores` touches a file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from stilts.core.catalog import BENCHMARKS, TASKS, benchmark_targets, intermediate_order, main_metrics
from stilts.core.errors import BadInput
from stilts.core.names import (
    BASELINE,
    CONFIG_KEYS,
    QA_METRICS,
    RUN_KEYS,
    configuration_name,
)
from stilts.reports.scores_file import LINE, SCORE_COLUMNS, SCORE_KEY, STAGE, TRAINED_ON, read_score_rows

BASELINE_CONFIG = (BASELINE, False)
DEFAULT_SPLIT = "dev"

# --------------------------------------------------------------------------------------------- loading


def load_scores(path) -> pd.DataFrame:
    """Read and validate a scores.csv; raise BadInput naming the file and the line or column.

    A directory is accepted when it holds a `scores.csv`. Extra columns are ignored (`stilts.reports.scores_file`
    reads and checks each row). Two lines that score the same thing (SCORE_KEY) differently are refused
    (`without_repeated_rows`); a line repeated as it is counts once. A file without a `stage` column
    (written before it existed) is read with every row naming no stage (""); ``attrs["unstaged"]`` counts
    such rows. A run whose rows of one split come from two evaluate stages is refused
    (`check_one_stage_per_run`).
    Returns the SCORE_COLUMNS with `mlm` as bool, `value` as float, everything else as str, and
    `trained_on` (bool: the row was scored on what the model trained on; a file without the column: False).
    """
    path = Path(path)
    if path.is_dir() and (path / "scores.csv").is_file():
        path = path / "scores.csv"
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    if path.is_dir():
        raise BadInput(f"{path}: is a directory without a scores.csv")

    rows = read_score_rows(path)
    if rows is None:
        raise BadInput(f"{path}: empty file; expected a header: {','.join(SCORE_COLUMNS)}")
    frame = pd.DataFrame.from_records(rows, columns=[*SCORE_COLUMNS, LINE, TRAINED_ON])
    frame = frame.astype({"mlm": bool, "value": float, TRAINED_ON: bool})
    frame.attrs["path"] = str(path)
    frame = without_repeated_rows(frame)
    check_one_stage_per_run(frame)
    frame = frame.drop(columns=LINE)
    frame.attrs["unstaged"] = int((frame[STAGE] == "").sum())
    return frame


def without_repeated_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with each line that is repeated as it is kept once (its first). Two lines with the
    same key (SCORE_KEY: what was scored) that differ in anything else (the value, the stage that wrote
    it) are refused with BadInput naming both lines: a table would have to pick one of two numbers. A
    run replaces its rows and never appends them again, so such lines come from files concatenated or
    edited by hand."""
    compared = [column for column in scores.columns if column != LINE]
    distinct = scores.drop_duplicates(subset=compared)
    clashing = distinct[distinct.duplicated(subset=list(SCORE_KEY), keep=False)]
    if clashing.empty:
        return distinct.reset_index(drop=True)
    first = clashing.iloc[0]
    second = clashing[(clashing[list(SCORE_KEY)] == first[list(SCORE_KEY)]).all(axis=1)].iloc[1]
    key = ", ".join(f"{column}={_cell(column, first[column])}" for column in SCORE_KEY)
    differences = [
        f"{column} ('{_cell(column, first[column])}', '{_cell(column, second[column])}')"
        for column in compared
        if column not in SCORE_KEY and first[column] != second[column]
    ]
    raise BadInput(
        f"{source_of(scores)}: lines {first[LINE]} and {second[LINE]} score the same ({key}) but differ in "
        f"{' and '.join(differences)}: a table would have to pick one; delete the stale line"
    )


def _cell(column: str, value) -> str:
    """A value of ``column`` as scores.csv writes it."""
    if column == "mlm":
        return "true" if value else "false"
    if column == TRAINED_ON:
        return "true" if value else ""
    return str(value)


#: how many languages a message lists for a stage before it says how many there are
LISTED_LANGUAGES = 6


def check_one_stage_per_run(scores: pd.DataFrame) -> None:
    """A run's score on a split is the mean over its languages, so they must come from one model: rows
    of one run and split that name two evaluate stages (files merged or edited by hand: a run's rows
    are written, and replaced, by one stage at a time) are refused, with BadInput naming both stages
    (and the lines they start on, where ``scores`` has them). A stage of "" is a row naming none (a file
    written before the column existed)."""
    keys = [*RUN_KEYS, "split"]
    mixed = scores.groupby(keys, sort=False)[STAGE].transform("nunique") > 1
    for (pipeline, _, _, target, seed, split), rows in scores[mixed].groupby(keys, sort=False):
        stages = list(dict.fromkeys(rows[STAGE]))
        described = []
        for stage in stages:
            of_stage = rows[rows[STAGE] == stage]
            languages = sorted(dict.fromkeys(of_stage["language"]), key=language_sort_key)
            listed = ", ".join(languages[:LISTED_LANGUAGES]) + (", ..." if len(languages) > LISTED_LANGUAGES else "")
            where = f"line {of_stage[LINE].min()}: " if LINE in of_stage else ""
            name = f"evaluate stage {stage}" if stage else "rows naming no stage"
            count = f"{len(languages)} language{'s' if len(languages) > 1 else ''}"
            described.append(f"{where}{name} ({count}: {listed})")
        raise BadInput(
            f"{source_of(scores)}: pipeline '{pipeline}' scored {target} with seed {seed} ({split}) in more than one "
            f"evaluate stage, {' and '.join(described)}: its average would pool two models' scores; run the "
            "pipeline again into this folder (its rows are then replaced as a whole), or delete the stale rows"
        )


#: the column `pipeline_rows` keeps each run's own pipeline name in (its evaluate stage is found by it)
PIPELINE_NAME = "pipeline_name"


def pipeline_row(pipeline: str, intermediate: str, mlm: bool, target: str, seed: str) -> str:
    """The row `stilts table --by pipeline` puts a run in: its pipeline's name, less the parts that
    `stilts sweep` names each run by (``<intermediate>[+mlm]-<target>[-<variant>]-s<seed>``, so
    ``mnli-panx-de-s1`` -> ``mnli-de``); a sweep's runs of one configuration so share a row over
    targets and seeds. Other names are rows as they are."""
    configuration = configuration_name(intermediate, mlm)
    head, tail = f"{configuration}-{target}", f"-s{seed}"
    if pipeline == head + tail:
        return configuration
    if pipeline.startswith(head + "-") and pipeline.endswith(tail) and len(pipeline) > len(head + tail) + 1:
        return f"{configuration}-{pipeline[len(head) + 1 : -len(tail)]}"
    return pipeline


def pipeline_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with ``pipeline`` replaced by each run's `pipeline_row`, its name kept in PIPELINE_NAME."""
    runs = scores[RUN_KEYS].itertuples(index=False, name=None)
    rows = scores.assign(**{PIPELINE_NAME: scores["pipeline"], "pipeline": [pipeline_row(*run) for run in runs]})
    rows.attrs = dict(scores.attrs)
    return rows


def check_one_run_per_seed(scores: pd.DataFrame, config_keys: Sequence[str] = CONFIG_KEYS) -> None:
    """A cell's runs are its seeds: two runs of one row, target and seed (pipelines that differ in
    something the row does not name, one run under two names, or a name re-used for another
    intermediate configuration) would be pooled as if they were two seeds. BadInput naming them."""
    name = PIPELINE_NAME if PIPELINE_NAME in scores else "pipeline"
    keys = [*config_keys, "target", "seed"]
    runs = scores.drop_duplicates([*keys, name, *CONFIG_KEYS]).groupby(keys, sort=False)
    for key, group in runs:
        if len(group) == 1:
            continue
        names = list(dict.fromkeys(group[name]))
        config, target, seed = config_of(key[: len(config_keys)], config_keys), key[-2], key[-1]
        if len(names) > 1:
            what = f"pipelines {', '.join(map(repr, names))} each ran {config_text(config, config_keys)} on {target}"
        else:
            ran = ", ".join(map(configuration_name, group["intermediate"], group["mlm"]))
            what = f"pipeline '{names[0]}' ran {target} after {len(group)} intermediate configurations ({ran})"
        by_intermediate = list(config_keys) == CONFIG_KEYS
        remedy = "--by pipeline makes a row of each" if by_intermediate else "give one another name (--set name=...)"
        raise BadInput(
            f"{source_of(scores)}: {what} with seed {seed}: a cell pools its runs as seeds, and these are not; {remedy}"
        )


def source_of(scores: pd.DataFrame) -> str:
    return scores.attrs.get("path", "scores.csv")


# ------------------------------------------------------------------------------------ names and order


def target_metrics(target: str, metrics_present=()) -> tuple[str, ...]:
    """Main metric(s) of a target: its declaration's ``main_metrics`` (the XTREME, XCOPA and XGLUE targets:
    WPR's ``ndcg`` among them). Another target: its declaration's metric when the file has it
    (a plugin's task), else a guess from the metrics present, else the first of them, so that no
    target with scores is ever left out of a table."""
    declared = main_metrics(target)
    if declared:
        return declared
    present = list(dict.fromkeys(metrics_present))
    if set(QA_METRICS) <= set(present):
        return QA_METRICS
    metric = TASKS.get(target).metric if target in TASKS else None
    if metric is not None and metric in present:
        return (metric,)
    for metric in ("accuracy", "f1"):
        if metric in present:
            return (metric,)
    return tuple(present[:1])


def is_qa(metrics) -> bool:
    return tuple(metrics) == QA_METRICS


def targets_in(scores: pd.DataFrame) -> list[str]:
    """Targets present, the benchmarks' in their declared order (XTREME's, then XGLUE's), then any others
    alphabetically."""
    present = set(scores["target"])
    ordered = benchmark_targets()
    return [t for t in ordered if t in present] + sorted(present - set(ordered))


def benchmark_rows(scores: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    """The rows of ``benchmark``'s targets (`stilts table --benchmark`); BadInput when there are none."""
    targets = BENCHMARKS.get(benchmark, "--benchmark").targets
    rows = scores[scores["target"].isin(targets)]
    if rows.empty:
        present = ", ".join(targets_in(scores)) or "none"
        raise BadInput(
            f"{source_of(scores)}: --benchmark {benchmark}: no rows of its targets ({' '.join(targets)}); "
            f"targets present: {present}"
        )
    return rows


def benchmarks_in(targets) -> list[str]:
    """The benchmarks with a target among ``targets``, in their declared order; the first declared
    (XTREME's) when none has (a table of other targets still shows what it is not)."""
    present = set(targets)
    found = [name for name, benchmark in BENCHMARKS.items() if present & set(benchmark.targets)]
    return found or BENCHMARKS.names()[:1]


def config_sort_key(config) -> tuple:
    """Baseline first, MLM off before on; single tasks in catalog order, then multi-task mixtures."""
    intermediate, mlm = config
    parts = intermediate.split("+")
    base = parts[0].split("@")[0]
    order = intermediate_order()
    rank = order.index(base) if base in order else len(order)
    return (bool(mlm), intermediate != BASELINE, len(parts), rank, intermediate)


def sort_configs(configs) -> list[tuple[str, bool]]:
    return sorted({(str(i), bool(m)) for i, m in configs}, key=config_sort_key)


# A configuration's label in a table's index is a tuple (intermediate, mlm) by intermediate, and the
# pipeline's name (a plain Index) by pipeline: pandas turns a one-key index into plain labels anyway.


def config_of(parts: Sequence, config_keys: Sequence[str] = CONFIG_KEYS):
    """The index label of a configuration from the values of its ``config_keys`` columns."""
    parts = [bool(value) if key == "mlm" else value for key, value in zip(config_keys, parts)]
    return parts[0] if len(parts) == 1 else tuple(parts)


def config_parts(config, config_keys: Sequence[str] = CONFIG_KEYS) -> dict:
    """A configuration's index label as its columns: {"intermediate": .., "mlm": ..} or {"pipeline": ..}."""
    values = config if isinstance(config, tuple) else (config,)
    return {key: bool(value) if key == "mlm" else value for key, value in zip(config_keys, values)}


def baseline_config(name: str, config_keys: Sequence[str] = CONFIG_KEYS):
    """The configuration `--baseline NAME` names: intermediate task NAME with MLM off, or pipeline NAME."""
    return config_of([name, False], config_keys)  # by pipeline there is no mlm key: the label is NAME


def config_text(config, config_keys: Sequence[str] = CONFIG_KEYS) -> str:
    """``intermediate=none, mlm=false`` or ``pipeline=NAME``, as scores.csv writes the columns."""
    parts = config_parts(config, config_keys)
    return ", ".join(f"{key}={str(value).lower() if key == 'mlm' else value}" for key, value in parts.items())


def config_rows(cells: pd.DataFrame, scores: pd.DataFrame, config_keys: Sequence[str] = CONFIG_KEYS) -> pd.Index:
    """The rows (index) of a table of the configurations in ``cells``. By intermediate, in
    `config_sort_key` order; by pipeline, in the order the pipelines first appear in ``scores`` (the order
    they were run in: a name has no order of its own to sort by)."""
    if list(config_keys) == CONFIG_KEYS:
        return pd.MultiIndex.from_tuples(sort_configs(zip(cells["intermediate"], cells["mlm"])), names=CONFIG_KEYS)
    [key] = config_keys  # by pipeline
    present = set(cells[key])
    return pd.Index([name for name in dict.fromkeys(scores[key]) if name in present], name=key)


def language_sort_key(language: str) -> tuple:
    return (language != "en", language)


# ----------------------------------------------------------------------------------------- selecting


def select_split(scores: pd.DataFrame, split: str) -> pd.DataFrame:
    rows = scores[scores["split"] == split]
    if rows.empty:
        splits = ", ".join(sorted(set(scores["split"]))) or "none"
        raise BadInput(f"{source_of(scores)}: no rows with split '{split}' (splits present: {splits})")
    return rows


def main_metric_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """Only the rows holding each target's main metric(s)."""
    keep = pd.Series(False, index=scores.index)
    for target, rows in scores.groupby("target", sort=False):
        metrics = target_metrics(target, rows["metric"].unique())
        keep.loc[rows.index] = rows["metric"].isin(metrics)
    return scores[keep]


def metrics_by_target(scores: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    out = {}
    for target in targets_in(scores):
        metrics = target_metrics(target, scores.loc[scores["target"] == target, "metric"].unique())
        if metrics:
            out[target] = metrics
    return out


# --------------------------------------------------------------------------------------- aggregating


def run_averages(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, metric): the mean over the run's languages. Pass rows of one split."""
    rows = main_metric_rows(scores)
    return rows.groupby(RUN_KEYS + ["metric"], as_index=False, sort=False)["value"].mean()


def config_medians(
    runs: pd.DataFrame, by=("target", "metric"), config_keys: Sequence[str] = CONFIG_KEYS
) -> pd.DataFrame:
    """Median over runs (seeds) per configuration; columns config_keys + by + value, n."""
    keys = list(config_keys) + list(by)
    return runs.groupby(keys, as_index=False, sort=False)["value"].agg(value="median", n="size")


def transfer_cells(
    scores: pd.DataFrame, split: str, config_keys: Sequence[str] = CONFIG_KEYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The main table for one split.

    Returns (values, counts): `values` has index ``config_keys`` ((intermediate, mlm), or pipeline) in
    table order (`config_rows`) and columns (target, metric) in canonical target order; `counts` has the
    same index and one column per target holding the number of runs behind the cell (for QA the F1 cell's).
    """
    rows = select_split(scores, split)
    metrics = metrics_by_target(rows)
    runs = run_averages(rows)
    if runs.empty:
        raise BadInput(f"{source_of(scores)}: no accuracy, f1 or exact_match rows with split '{split}'")
    cells = config_medians(runs, config_keys=config_keys)
    index = config_rows(cells, scores, config_keys)
    columns = pd.MultiIndex.from_tuples(
        [(target, metric) for target, ms in metrics.items() for metric in ms], names=["target", "metric"]
    )
    values = cells.pivot_table(index=list(config_keys), columns=["target", "metric"], values="value", aggfunc="first")
    values = values.reindex(index=index, columns=columns)
    first_metric = {target: ms[0] for target, ms in metrics.items()}
    n_rows = cells[cells["metric"] == cells["target"].map(first_metric)]
    counts = n_rows.pivot_table(index=list(config_keys), columns="target", values="n", aggfunc="first")
    counts = counts.reindex(index=index, columns=list(metrics))
    return values, counts


def language_cells(
    scores: pd.DataFrame, target: str, split: str, config_keys: Sequence[str] = CONFIG_KEYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-language table of one target: index ``config_keys`` as `transfer_cells`'; columns (language,
    metric), then ("avg", metric) = the main-table cell (median over seeds of the run language averages)."""
    rows = select_split(scores, split)
    rows = rows[rows["target"] == target]
    if rows.empty:
        present = ", ".join(targets_in(select_split(scores, split)))
        raise BadInput(
            f"{source_of(scores)}: target '{target}' has no rows with split '{split}' (targets present: {present})"
        )
    metrics = target_metrics(target, rows["metric"].unique())
    if not metrics:
        raise BadInput(f"{source_of(scores)}: target '{target}' has no accuracy, f1 or exact_match rows")
    rows = rows[rows["metric"].isin(metrics)]
    per_run = rows.groupby(RUN_KEYS + ["language", "metric"], as_index=False, sort=False)["value"].mean()
    cells = config_medians(per_run, by=("language", "metric"), config_keys=config_keys)
    averages = config_medians(run_averages(rows), config_keys=config_keys)
    averages = averages.drop(columns="target").assign(language="avg")
    cells = pd.concat([cells, averages], ignore_index=True)

    languages = sorted(set(rows["language"]), key=language_sort_key) + ["avg"]
    index = config_rows(cells, scores, config_keys)
    columns = pd.MultiIndex.from_tuples(
        [(language, metric) for language in languages for metric in metrics], names=["language", "metric"]
    )
    values = cells.pivot_table(index=list(config_keys), columns=["language", "metric"], values="value", aggfunc="first")
    values = values.reindex(index=index, columns=columns)
    n_rows = cells[cells["metric"] == metrics[0]]
    counts = n_rows.pivot_table(index=list(config_keys), columns="language", values="n", aggfunc="first")
    counts = counts.reindex(index=index, columns=languages)
    return values, counts


def group_scores(values: pd.DataFrame) -> pd.DataFrame:
    """One number per column group (target or language): the metric, or mean(F1, EM) for QA.

    A QA group with F1 or EM missing has no score (NaN), never a half-score.
    """
    groups = list(dict.fromkeys(values.columns.get_level_values(0)))
    return pd.DataFrame({group: values[group].mean(axis=1, skipna=False) for group in groups}, index=values.index)


def row_average(values: pd.DataFrame) -> pd.Series:
    """Avg. column: mean over targets of each row, a QA target counting as mean(F1, EM).

    A row missing any target of the table gets no average (NaN): an average over fewer tasks is a
    different quantity and would not compare across rows.
    """
    return group_scores(values).mean(axis=1, skipna=False)


def with_average(values: pd.DataFrame) -> pd.DataFrame:
    out = values.copy()
    out[("avg", "score")] = row_average(values)
    return out


def deltas(values: pd.DataFrame, baseline=BASELINE_CONFIG) -> pd.DataFrame:
    """Each row minus the baseline row (default: intermediate none, mlm false); the baseline row is dropped."""
    if baseline not in values.index:
        raise KeyError(baseline)
    base = values.loc[baseline]
    return values.drop(index=baseline).sub(base, axis=1)


# ------------------------------------------------------------------------ best-by-dev, benchmarks


def best_by_dev(
    scores: pd.DataFrame, dev: str = "dev", test: str = "test", config_keys: Sequence[str] = CONFIG_KEYS
) -> pd.DataFrame:
    """For each target, the configuration with the best dev score, reported on test.

    The score of a QA target is mean(F1, EM). Ties go to the configuration listed first (the baseline
    first). When the chosen configuration has no test score (the target has no test data, or that run
    did not produce one) the dev score is reported instead and `reported_split` says so.

    Columns: target, the ``config_keys`` (intermediate, mlm; or pipeline), dev, test, reported_split, n_dev,
    n_test, test_f1, test_em. `test` is the reported score; test_f1/test_em its F1 and EM for QA targets.
    """
    targets = targets_in(main_metric_rows(scores))
    dev_values, dev_counts = _cells_or_empty(scores, dev, config_keys)
    test_values, test_counts = _cells_or_empty(scores, test, config_keys)
    dev_scores, test_scores = group_scores(dev_values), group_scores(test_values)

    records = []
    for target in targets:
        record = dict(
            target=target,
            **dict.fromkeys(config_keys),
            dev=math.nan,
            test=math.nan,
            reported_split=None,
            n_dev=math.nan,
            n_test=math.nan,
            test_f1=math.nan,
            test_em=math.nan,
        )
        candidates = dev_scores[target].dropna() if target in dev_scores else pd.Series(dtype=float)
        if not candidates.empty:
            config = candidates.idxmax()
            record.update(config_parts(config, config_keys))
            record.update(dev=candidates[config], n_dev=dev_counts.at[config, target])
            reported, split_values, split_counts, split_name = math.nan, test_values, test_counts, test
            if target in test_scores and config in test_scores.index:
                reported = test_scores.at[config, target]
            if pd.isna(reported):
                reported, split_values, split_counts, split_name = candidates[config], dev_values, dev_counts, dev
            record.update(test=reported, reported_split=split_name, n_test=split_counts.at[config, target])
            if (target, "exact_match") in split_values.columns:
                record.update(
                    test_f1=split_values.at[config, (target, "f1")],
                    test_em=split_values.at[config, (target, "exact_match")],
                )
        records.append(record)
    return pd.DataFrame.from_records(records)


def _cells_or_empty(scores: pd.DataFrame, split: str, config_keys) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not (scores["split"] == split).any():
        no_rows = scores.iloc[:0]  # an empty index with the table's levels
        empty = pd.DataFrame(index=config_rows(no_rows, no_rows, config_keys))
        return empty.copy(), empty.copy()
    return transfer_cells(scores, split, config_keys)


def benchmark_score(best: pd.DataFrame, benchmark: str, column: str = "test") -> tuple[float, list[str]]:
    """A benchmark's score: the unweighted mean over its tasks of their scores in ``best`` (`best_by_dev`):
    XTREME's 9 tasks (QA = mean(F1, EM)), or XGLUE's 9 understanding tasks, its paper's and the Hub
    card's AVG (MLQA = F1, POS = seqeval precision, WPR = nDCG, the others their accuracy or F1).

    Returns (score, missing): when tasks are missing the score is the mean over those present and
    `missing` names the others; callers must label it as such. Targets outside the benchmark do not count.
    """
    targets = BENCHMARKS.get(benchmark).targets
    rows = best[best["target"].isin(targets)].dropna(subset=[column])
    present = set(rows["target"])
    missing = [t for t in targets if t not in present]
    score = float(rows[column].mean()) if not rows.empty else math.nan
    return score, missing
