"""Aggregate the rows of `scores.csv` (as `stilts.reports.scores.load_scores` reads them) into transfer tables.

`scores.csv` is the long-format file every run appends to (see docs/concepts.md, "scores.csv"):

    pipeline, intermediate, mlm, target, seed, split, language, metric, value, stage

Aggregation follows the paper's reporting (docs/method.md, "Reporting"):

- a *run* is (pipeline, intermediate, mlm, target, seed); its score on a split is the mean over
  languages of the target's main metric, whose rows must all come from one evaluate stage (`stage`);
- a k-shot run (intermediate ``<configuration>/<k>-shot``, a `few_shot` stage's) has a score per set of
  shots (seed ``<seed>/set<i>``): its score is the mean over its sets (`pooled_sets`), never the sets
  taken as seeds; the spread over the sets is reported beside it (`set_spreads`);
- a *configuration* is (intermediate, mlm), or with `stilts table --by pipeline` the pipeline's name
  (``config_keys``: stilts.core.names ``CONFIG_KEYS_BY``; a sweep's names without their target and seed,
  `pipeline_row`); its cell is the median over its runs, which must be its seeds (one run per seed,
  `check_one_run_per_seed`);
- a QA target (xquad, mlqa, tydiqa) keeps F1 and exact match side by side, and counts as
  mean(F1, EM) wherever a single number per task is needed (Avg., best-by-dev, XTREME score);
- a benchmark's score (XTREME's, XTREME-R's, XGLUE's understanding score) is the unweighted mean of its targets'
  best-by-dev scores, each target counting its main metric(s) (its declaration's
  ``Task.main_metrics``: XGLUE's MLQA is F1 alone, its POS seqeval precision, its WPR nDCG).

Task facts (main metrics, benchmarks and their orders) come from the registered declarations
(`stilts.core.catalog`), which import no torch.

Every function here is pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from stilts.core.catalog import BENCHMARKS
from stilts.core.errors import BadInput
from stilts.core.names import (
    CONFIG_KEYS,
    RUN_KEYS,
    SETTING_SEPARATOR,
    TRANSLATE_TEST,
    TRANSLATE_TRAIN,
    base_seed,
)
from stilts.reports.order import (
    BASELINE_CONFIG,
    config_parts,
    config_rows,
    language_sort_key,
    target_metrics,
    targets_in,
)
from stilts.reports.scores import source_of

#: the split a table shows when none is given
DEFAULT_SPLIT = "dev"


# ----------------------------------------------------------------------------------------- selecting


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
    """One row per (run, metric): the mean over the run's languages (a k-shot run's: the mean over its sets
    of each set's, `pooled_sets`). Pass rows of one split."""
    rows = main_metric_rows(scores)
    return pooled_sets(rows.groupby(RUN_KEYS + ["metric"], as_index=False, sort=False)["value"].mean())


def has_sets(frame: pd.DataFrame) -> pd.Series:
    """Whether each row is one set of shots of a run (seed ``<seed>/set<i>``)."""
    return frame["seed"].astype(str).str.contains(SETTING_SEPARATOR, regex=False)


def translated_training(frame: pd.DataFrame) -> pd.Series:
    """Whether each row is of a model whose target stage trained on machine translations of its training
    data (intermediate ``<configuration>/translate-train-<languages>``): translate-train, not zero-shot."""
    settings = frame["intermediate"].astype(str).str.partition(SETTING_SEPARATOR)[2]
    return settings.str.startswith(TRANSLATE_TRAIN)


def is_translate_test(frame: pd.DataFrame) -> pd.Series:
    """Whether each row scores machine translations into English (intermediate ``<...>/translate-test``)."""
    return frame["intermediate"].astype(str).str.endswith(SETTING_SEPARATOR + TRANSLATE_TEST)


def pooled_sets(values: pd.DataFrame) -> pd.DataFrame:
    """``values`` (a ``value`` column and keys, ``seed`` among them) with each run's sets of shots made one
    row of the run's seed, their mean: a set is not a seed, and a cell's median is over seeds."""
    sets = has_sets(values)
    if not sets.any():
        return values
    keys = [column for column in values.columns if column != "value"]
    pooled = values[sets].assign(seed=values.loc[sets, "seed"].map(base_seed))
    pooled = pooled.groupby(keys, as_index=False, sort=False)["value"].mean()
    return pd.concat([values[~sets], pooled], ignore_index=True)


def set_spreads(
    scores: pd.DataFrame, split: str, config_keys: Sequence[str] = CONFIG_KEYS, target: str | None = None
) -> pd.DataFrame:
    """The spread over the sets of shots of each k-shot cell: per run, the standard deviation over its sets
    of their score (a language's, or the language average), then the median over the configuration's
    seeds. Long form: ``config_keys``, column group (the target; with ``target``, the language or
    ``avg``), metric, value. Empty where no row has sets."""
    rows = main_metric_rows(select_split(scores, split))
    rows = rows[has_sets(rows)]
    if target is not None:
        rows = rows[rows["target"] == target]
    group = "target" if target is None else "language"
    columns = [*config_keys, group, "metric", "value"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    per_set = [rows.groupby(RUN_KEYS + ["metric"], as_index=False, sort=False)["value"].mean()]
    if target is not None:
        per_set = [
            rows.groupby(RUN_KEYS + ["language", "metric"], as_index=False, sort=False)["value"].mean(),
            per_set[0].assign(language="avg"),
        ]
    frame = pd.concat(per_set, ignore_index=True)
    frame = frame.assign(seed=frame["seed"].map(base_seed))
    keys = [column for column in frame.columns if column != "value"]
    spread = frame.groupby(keys, as_index=False, sort=False)["value"].std(ddof=1)
    return spread.groupby([*config_keys, group, "metric"], as_index=False, sort=False)["value"].median()[columns]


def spread_frame(spreads: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """`set_spreads` laid out as ``values`` (a table's cells): NaN where a cell has no sets."""
    out = pd.DataFrame(float("nan"), index=values.index, columns=values.columns)
    keys = list(values.index.names)
    for record in spreads.itertuples(index=False):
        parts = [getattr(record, key) for key in keys]
        config = parts[0] if len(parts) == 1 else tuple(parts)
        group = record[len(keys)]
        column = (group, record.metric)
        if config in out.index and column in out.columns:
            out.at[config, column] = record.value
    return out


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
    scores: pd.DataFrame,
    target: str,
    split: str,
    config_keys: Sequence[str] = CONFIG_KEYS,
    groups: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-language table of one target: index ``config_keys`` as `transfer_cells`'; columns (language,
    metric), then ("avg", metric) = the main-table cell (median over seeds of the run language averages).

    With ``groups`` (every language of the target -> the column of its group), a column per group instead, in
    the order of ``groups``' values: the median over seeds of each run's mean over the group's languages, as
    the Avg is over all of them."""
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
    averages = config_medians(run_averages(rows), config_keys=config_keys)
    if groups is not None:
        ungrouped = sorted(set(rows["language"]) - set(groups))
        if ungrouped:
            raise KeyError(f"groups: no group for {', '.join(ungrouped)}")
        rows = rows.assign(language=rows["language"].map(groups))
    per_run = pooled_sets(rows.groupby(RUN_KEYS + ["language", "metric"], as_index=False, sort=False)["value"].mean())
    cells = config_medians(per_run, by=("language", "metric"), config_keys=config_keys)
    averages = averages.drop(columns="target").assign(language="avg")
    cells = pd.concat([cells, averages], ignore_index=True)

    if groups is None:
        languages = sorted(set(rows["language"]), key=language_sort_key) + ["avg"]
    else:
        languages = [group for group in dict.fromkeys(groups.values()) if group in set(rows["language"])] + ["avg"]
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
    XTREME's 9 tasks (QA = mean(F1, EM)), XTREME-R's 10 as its evaluate.py averages them (QA = mean(F1,
    EM); Mewsli-X and LAReQA, which stilts lacks, always missing), or XGLUE's 9 understanding tasks, its
    paper's and the Hub card's AVG (MLQA = F1, POS = seqeval precision, WPR = nDCG, the others their
    accuracy or F1).

    Returns (score, missing): when tasks are missing the score is the mean over those present and
    `missing` names the others; callers must label it as such. Targets outside the benchmark do not count.
    """
    declared = BENCHMARKS.get(benchmark)
    targets = declared.targets
    rows = best[best["target"].isin(targets)].dropna(subset=[column])
    present = set(rows["target"])
    # a task stilts has no declaration of (XTREME-R's Mewsli-X) is missing from every score
    missing = [t for t in targets if t not in present] + list(declared.absent)
    score = float(rows[column].mean()) if not rows.empty else math.nan
    return score, missing
