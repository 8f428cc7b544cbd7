"""Read `scores.csv` into the rows a table aggregates (`stilts.reports.aggregate`), checked.

`scores.csv` is the long-format file every run appends to (see docs/concepts.md, "scores.csv"; its
columns, writer and row reader: `stilts.reports.scores_file`):

    pipeline, intermediate, mlm, target, seed, split, language, metric, value, stage

A *run* is (pipeline, intermediate, mlm, target, seed); its rows of one split must all come from one
evaluate stage (`check_one_stage_per_run`), and a configuration's runs must be its seeds
(`check_one_run_per_seed`), so that no table pools numbers of different models. Only `load_scores`
touches a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from stilts.core.errors import BadInput
from stilts.core.names import (
    CONFIG_KEYS,
    RUN_KEYS,
    base_seed,
    configuration_name,
    split_setting,
    with_setting,
)
from stilts.reports.order import config_of, config_text, language_sort_key
from stilts.reports.scores_file import LINE, SCORE_COLUMNS, SCORE_KEY, STAGE, TRAINED_ON, read_score_rows

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
    targets and seeds. Other names are rows as they are. Rows of a setting (``mnli/seed-average``) are
    the row of their pipeline with the setting after it (``mnli-de/seed-average``)."""
    intermediate, setting = split_setting(intermediate)
    configuration = configuration_name(intermediate, mlm)
    head, tail = f"{configuration}-{target}", f"-s{base_seed(seed)}"
    if pipeline == head + tail:
        row = configuration
    elif pipeline.startswith(head + "-") and pipeline.endswith(tail) and len(pipeline) > len(head + tail) + 1:
        row = f"{configuration}-{pipeline[len(head) + 1 : -len(tail)]}"
    else:
        row = pipeline
    return with_setting(row, setting)


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
