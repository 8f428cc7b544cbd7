"""Render transfer tables as markdown, csv, LaTeX or HTML.

No dependency beyond pandas: markdown, LaTeX (booktabs rules) and HTML are written here, since
`DataFrame.to_markdown` needs `tabulate` and `Styler.to_latex` needs `jinja2`, neither of which stilts
depends on.

Text formats (md, latex, html) round to 1 decimal, show a missing cell as `-`, and print notes under
the table. The csv form is for scripts and fixed: unrounded numbers, an empty field for a missing cell,
and notes go to stderr (the caller prints them) so stdout stays plain CSV.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from stilts.core.catalog import BENCHMARKS
from stilts.core.names import CONFIG_KEYS
from stilts.reports.aggregate import benchmark_score
from stilts.reports.order import benchmarks_in, config_parts

FORMATS = ("md", "csv", "latex", "html")
MISSING = "-"
SHORT_METRIC = {"accuracy": "acc", "f1": "f1", "exact_match": "em", "precision": "p", "recall": "r", "ndcg": "ndcg"}
#: the text formats' header of a configuration column; another one (pipeline) keeps its scores.csv name
CONFIG_HEADERS = {"intermediate": "Intermediate", "mlm": "MLM"}


@dataclass
class Table:
    """A configuration-by-column table ready to render.

    values: index (intermediate, mlm) or (pipeline): its names are the first columns (`stilts table --by`);
        columns (group, metric), a group being a target or a language;
        a group with two metrics (QA: f1, exact_match) renders as `F1/EM` in one cell.
    counts: runs behind each cell, index as values, one column per group (None: not shown).
    signed: cells are differences (rendered with a sign).
    baseline: absolute scores of the baseline row, shown first (every format) in a delta table.
    """

    values: pd.DataFrame
    counts: pd.DataFrame | None = None
    labels: dict = field(default_factory=dict)
    signed: bool = False
    baseline: pd.Series | None = None
    caption: str = ""
    notes: list = field(default_factory=list)
    #: bootstrap intervals and seed standard deviations (`stilts.reports.bootstrap.Intervals`), or None
    intervals: Any = None
    #: per cell (as values), the spread over sets of shots of a k-shot row (`aggregate.set_spreads`), or None
    spread: pd.DataFrame | None = None


@dataclass
class Grid:
    """Formatted strings: what md, latex and html share."""

    header: list
    rows: list
    right_from: int  # first right-aligned (numeric) column
    caption: str = ""
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------------------------------- numbers


def number(value, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return MISSING
    text = f"{value:+.1f}" if signed else f"{value:.1f}"
    if text in ("-0.0", "+0.0"):
        text = "0.0"
    return text


def with_n(text: str, n, show_n: bool) -> str:
    if not show_n or text == MISSING or n is None or pd.isna(n):
        return text
    return f"{text} (n={int(n)})"


def mlm_text(mlm) -> str:
    if mlm is None or (isinstance(mlm, float) and math.isnan(mlm)):
        return ""
    return "yes" if mlm else "no"


def config_header(config_keys) -> list[str]:
    return [CONFIG_HEADERS.get(key, key) for key in config_keys]


def config_cells(config, config_keys) -> list[str]:
    """A row's first cells: the intermediate task and MLM yes/no, or the pipeline's name."""
    return [mlm_text(value) if key == "mlm" else str(value) for key, value in config_parts(config, config_keys).items()]


def groups_of(values: pd.DataFrame) -> list:
    return list(dict.fromkeys(values.columns.get_level_values(0)))


def cell(values: pd.Series, group, signed: bool, intervals=None, spread: pd.DataFrame | None = None) -> str:
    """One group's cell: `81.2`, or `F1/EM` for two metrics; `-` when nothing is there. With
    ``intervals``, each number is followed by its interval (`*` before it: the delta's interval
    excludes 0) and its seed standard deviation (`±`); with ``spread``, a k-shot cell's number by its
    spread over the sets of shots (`±`)."""
    parts = [values[(group, metric)] for metric in values[group].index]
    if all(pd.isna(part) for part in parts):
        return MISSING
    texts = [number(part, signed) for part in parts]
    if intervals is not None:
        texts = [
            with_interval(text, intervals, values.name, (group, metric), signed)
            for text, metric in zip(texts, values[group].index)
        ]
    if spread is not None:
        for i, metric in enumerate(values[group].index):
            sd = _at(spread, values.name, (group, metric))
            if texts[i] != MISSING and not pd.isna(sd):
                texts[i] += f" ±{sd:.1f}"
    return "/".join(texts)


def _at(frame: pd.DataFrame, row, column):
    if row not in frame.index or column not in frame.columns:
        return math.nan
    return frame.at[row, column]


def with_interval(text: str, intervals, config, column, signed: bool) -> str:
    if text == MISSING:
        return text
    low, high = _at(intervals.low, config, column), _at(intervals.high, config, column)
    if not pd.isna(low) and not pd.isna(high):
        mark = "*" if intervals.of_deltas and (low > 0 or high < 0) else ""
        text = f"{text}{mark} [{number(low, signed)}, {number(high, signed)}]"
    sd = _at(intervals.sd, config, column)
    if not pd.isna(sd):
        text += f" ±{sd:.1f}"
    return text


# --------------------------------------------------------------------------------------- main tables


def table_grid(table: Table, show_n: bool = False) -> Grid:
    groups = groups_of(table.values)
    keys = list(table.values.index.names)
    header = config_header(keys) + [table.labels.get(g, str(g)) for g in groups]
    rows = []
    if table.baseline is not None:
        config = table.baseline.name
        rows.append(
            config_cells(config, keys)
            + [
                with_n(
                    cell(table.baseline, g, False, table.intervals, table.spread),
                    _count(table.counts, config, g),
                    show_n,
                )
                for g in groups
            ]
        )
    for config, values in table.values.iterrows():
        rows.append(
            config_cells(config, keys)
            + [
                with_n(
                    cell(values, g, table.signed, table.intervals, table.spread),
                    _count(table.counts, config, g),
                    show_n,
                )
                for g in groups
            ]
        )
    return Grid(header, rows, right_from=len(keys), caption=table.caption, notes=list(table.notes))


def _count(counts, config, group):
    if counts is None or group not in counts.columns:
        return None
    if config not in counts.index:
        return None
    return counts.at[config, group]


def _index_like(index: pd.Index, labels: list) -> pd.Index:
    """An index of ``labels`` with the levels of ``index`` (a MultiIndex by intermediate, plain by pipeline)."""
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples(labels, names=index.names)
    return pd.Index(labels, name=index.name)


def table_csv(table: Table, show_n: bool = False) -> str:
    """Columns intermediate,mlm (or pipeline),<group>... (a two-metric group gives <group>_f1,<group>_em),
    unrounded.

    A delta table holds the same rows as the text formats: the baseline first, with absolute scores,
    and a `kind` column after `mlm` (`pipeline`) telling a script which row is `absolute` and which are
    `delta`.
    """
    values = table.values
    if table.baseline is not None:
        baseline_row = pd.DataFrame(
            [table.baseline.reindex(values.columns).to_numpy(dtype=float)],
            columns=values.columns,
            index=_index_like(values.index, [table.baseline.name]),
        )
        values = pd.concat([baseline_row, values])
    out = pd.DataFrame(index=values.index)
    if table.baseline is not None:
        out["kind"] = ["absolute"] + ["delta"] * len(table.values)
    for group in groups_of(values):
        metrics = list(values[group].columns)
        for metric in metrics:
            name = str(group) if len(metrics) == 1 else f"{group}_{SHORT_METRIC.get(metric, metric)}"
            out[name] = values[(group, metric)]
            if table.intervals is not None:
                for suffix, frame in (("low", table.intervals.low), ("high", table.intervals.high)):
                    out[f"{name}_{suffix}"] = [_at(frame, config, (group, metric)) for config in values.index]
                if table.intervals.of_deltas:
                    significant = table.intervals.significant()
                    out[f"{name}_significant"] = [
                        ""
                        if config not in significant.index
                        else str(bool(significant.at[config, (group, metric)])).lower()
                        for config in values.index
                    ]
                out[f"{name}_sd"] = [_at(table.intervals.sd, config, (group, metric)) for config in values.index]
            if table.spread is not None:
                out[f"{name}_sets_sd"] = [_at(table.spread, config, (group, metric)) for config in values.index]
        if show_n and table.counts is not None and group in table.counts.columns:
            out[f"{group}_n"] = table.counts[group].astype("Int64")
    out = out.reset_index()
    if "mlm" in out.columns:
        out["mlm"] = out["mlm"].map(lambda m: "true" if m else "false")
    return out.to_csv(index=False, lineterminator="\n")


# ---------------------------------------------------------------------------------------- best table


def _benchmarks(best: pd.DataFrame, benchmarks) -> list[str]:
    return list(benchmarks) if benchmarks else benchmarks_in(best["target"])


def best_grid(best: pd.DataFrame, show_n: bool = False, benchmarks=None, config_keys=CONFIG_KEYS) -> Grid:
    """Target | Intermediate | MLM (or pipeline) | Dev | Test, then a row per benchmark with its score
    (``benchmarks``; default: those with a target in ``best``, XTREME when none); dev fallbacks marked
    with †."""
    header = ["Target", *config_header(config_keys), "Dev", "Test"]
    rows, notes, fallback = [], [], []
    for record in best.itertuples(index=False):
        test = number(record.test)
        if not pd.isna(record.test_f1) or not pd.isna(record.test_em):
            test = f"{test} ({number(record.test_f1)}/{number(record.test_em)})"
        if record.reported_split is not None and record.reported_split != "test":
            test += "†"
            fallback.append(record.target)
        chosen = [
            mlm_text(getattr(record, key)) if key == "mlm" else getattr(record, key) or MISSING for key in config_keys
        ]
        rows.append(
            [
                record.target,
                *chosen,
                with_n(number(record.dev), record.n_dev, show_n),
                with_n(test, record.n_test, show_n),
            ]
        )
    shown = _benchmarks(best, benchmarks)
    partial = []
    for benchmark in shown:
        score, missing = benchmark_score(best, benchmark, "test")
        dev_score, _ = benchmark_score(best, benchmark, "dev")
        declared = BENCHMARKS.get(benchmark)
        label, size = declared.label, declared.size
        present = size - len(missing)
        rows.append(
            [label if not missing else f"{label} ({present} of {size} tasks)"]
            + [""] * len(config_keys)
            + [number(dev_score), number(score)]
        )
        if missing:
            partial.append(
                f"{label} score over {present} of the {size} tasks only (missing: {', '.join(missing)}); "
                f"not comparable to a full {label} score."
            )
    if any(not pd.isna(v) for v in best["test_f1"]):
        notes.append("QA targets score mean(F1, EM); F1/EM of the reported split in parentheses.")
    if fallback:
        notes.append(f"† no test scores for {', '.join(fallback)}: the dev score is reported instead.")
    no_dev = list(best.loc[best["reported_split"].isna(), "target"])
    if no_dev:
        notes.append(f"no dev scores to select a configuration for: {', '.join(no_dev)}.")
    notes += partial
    caption = " ".join(
        ["Best configuration per target, chosen on dev and reported on test."]
        + [BENCHMARKS.get(benchmark).caption for benchmark in shown]
    )
    return Grid(header, rows, right_from=1 + len(config_keys), caption=caption, notes=notes)


def best_csv(best: pd.DataFrame, show_n: bool = False, benchmarks=None, config_keys=CONFIG_KEYS) -> str:
    """Columns target,intermediate,mlm (or pipeline),dev,test; then a row per benchmark (`best_grid`),
    ``xtreme`` or ``xglue``, with its score in test (and the same mean over the selected configurations'
    dev scores in dev)."""
    out = best[["target", *config_keys, "dev", "test"]].copy()
    for key in config_keys:
        if key == "mlm":
            out["mlm"] = out["mlm"].map(lambda m: "" if m is None or pd.isna(m) else ("true" if m else "false"))
        else:
            out[key] = out[key].fillna("")
    if show_n:
        out["dev_n"] = best["n_dev"].astype("Int64")
        out["test_n"] = best["n_test"].astype("Int64")
    score_rows = []
    for benchmark in _benchmarks(best, benchmarks):
        score, _missing = benchmark_score(best, benchmark, "test")
        dev_score, _ = benchmark_score(best, benchmark, "dev")
        score_rows.append({"target": benchmark, **dict.fromkeys(config_keys, ""), "dev": dev_score, "test": score})
    out = pd.concat([out, pd.DataFrame(score_rows)], ignore_index=True)
    return out.to_csv(index=False, lineterminator="\n")


# --------------------------------------------------------------------------------------------- text


def render_grid(grid: Grid, fmt: str) -> str:
    return {"md": markdown, "latex": latex, "html": html_table}[fmt](grid)


def markdown(grid: Grid) -> str:
    def escape(text):
        return str(text).replace("|", "\\|")

    widths = [max(len(escape(row[i])) for row in [grid.header] + grid.rows) for i in range(len(grid.header))]
    widths = [max(width, 3) for width in widths]

    def line(cells):
        padded = [
            escape(c).rjust(w) if i >= grid.right_from else escape(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i >= grid.right_from else ("-" * (w + 2)) for i, w in enumerate(widths))
        + "|"
    )
    lines = []
    if grid.caption:
        lines += [grid.caption, ""]
    lines += [line(grid.header), rule] + [line(row) for row in grid.rows]
    if grid.notes:
        lines.append("")
        lines += [f"Note: {note}" for note in grid.notes]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "†": r"$^\dagger$",
    "±": r"$\pm$",
}


def latex_escape(text) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


#: a minus sign before a number (not the hyphen inside a name such as mnli-de): text mode sets a
#: hyphen, half as wide as the plus of the positive deltas beside it
_NEGATIVE = re.compile(r"(?<![\w-])-(?=\d)")


def latex_number_cell(text) -> str:
    return _NEGATIVE.sub(r"$-$", latex_escape(text))


def latex(grid: Grid) -> str:
    """A booktabs tabular, led by a comment saying it needs \\usepackage{booktabs}; negative numbers
    with a minus sign; the caption and notes are rows under it."""
    columns = len(grid.header)
    spec = "l" * grid.right_from + "r" * (columns - grid.right_from)
    lines = [
        r"% stilts table: needs \usepackage{booktabs} in the preamble (the rules of this tabular are its)",
        f"\\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in grid.header) + r" \\",
        r"\midrule",
    ]
    lines += [
        " & ".join(latex_escape(c) if i < grid.right_from else latex_number_cell(c) for i, c in enumerate(row)) + r" \\"
        for row in grid.rows
    ]
    lines.append(r"\bottomrule")
    for text in ([grid.caption] if grid.caption else []) + [f"Note: {note}" for note in grid.notes]:
        lines.append(f"\\multicolumn{{{columns}}}{{p{{0.95\\linewidth}}}}{{\\footnotesize {latex_escape(text)}}} \\\\")
    lines.append(r"\end{tabular}")
    return "\n".join(lines) + "\n"


def html_table(grid: Grid) -> str:
    def row(cells, tag):
        out = []
        for i, c in enumerate(cells):
            align = ' style="text-align:right"' if i >= grid.right_from else ""
            out.append(f"<{tag}{align}>{html.escape(str(c))}</{tag}>")
        return "    <tr>" + "".join(out) + "</tr>"

    lines = ['<table class="stilts-table">']
    if grid.caption:
        lines.append(f"  <caption>{html.escape(grid.caption)}</caption>")
    lines += ["  <thead>", row(grid.header, "th"), "  </thead>", "  <tbody>"]
    lines += [row(r, "td") for r in grid.rows]
    lines += ["  </tbody>", "</table>"]
    lines += [f'<p class="note">Note: {html.escape(note)}</p>' for note in grid.notes]
    return "\n".join(lines) + "\n"
