"""`rank.csv`, what `stilts rank` writes next to a sweep's scores.csv, and how good its rankings are against the
sweep's results (`stilts rank` once the targets ran, `stilts table SCORES --rank RANK`).

rank.csv has one row per (intermediate configuration, target, method):

    intermediate, mlm, target, method, score, rank, seeds, examples, rows

``score``: the method's score (higher: predicted to help more; LogME and H-score the mean over the seeds'
intermediate models), ``rank`` its place among the target's configurations (1 = predicted best; ties share the
best place; empty where the method has no score, e.g. LogME of a retrieval target, which has no labels),
``seeds`` how many intermediate models were scored, ``examples`` the target examples sampled and ``rows`` the
feature rows LogME saw (tokens for tagging and QA).

The quality of a ranking, per target (`stilts.analysis.ranking_quality`): the truth is each configuration's
result, its runs' language-averaged main metric (a QA target's mean of F1 and EM) on a split, averaged over its
seeds; Regret@1 and @3, on the results and, where the sweep has the baseline (intermediate ``none``), on the
gains over it; NDCG, Spearman and Kendall; and the noise ceiling, the same metrics between disjoint halves of
the seeds, beside each method's metrics against the same halves, so that no ranking is called better than the
results agree with themselves without saying so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from stilts.analysis import ranking_quality as rq
from stilts.core.errors import BadInput
from stilts.core.names import BASELINE, configuration_name
from stilts.reports.aggregate import DEFAULT_SPLIT, run_averages, select_split
from stilts.reports.order import sort_configs
from stilts.reports.render import Grid, number

#: method -> what it is, in the words tables use
METHODS = {
    "logme": "LogME (You et al. 2021) of the intermediate model's features of the target's examples",
    "hscore": "shrinkage H-score (Ibrahim et al. 2022) of the same features",
    "textemb": "TextEmb (Vu et al. 2020): cosine similarity of the base model's mean-pooled features of the "
    "intermediate and the target data",
    "size": "the number of the intermediate configuration's training examples (the baseline to beat)",
}
#: the methods that score the intermediate stages' models (the others need no stage)
MODEL_METHODS = ("logme", "hscore")
RANK_FILE = "rank.csv"
#: the target examples each (intermediate model, target) pair's forward pass sees, and the examples of each data
#: set TextEmb embeds, unless `stilts rank --examples` says otherwise
DEFAULT_EXAMPLES = 1000
RANK_COLUMNS = ["intermediate", "mlm", "target", "method", "score", "rank", "seeds", "examples", "rows"]
#: the quality metrics in table order, and whether lower is better
QUALITY_METRICS = {
    "regret@1": True,
    "regret@3": True,
    "delta_regret@1": True,
    "delta_regret@3": True,
    "ndcg": False,
    "spearman": False,
    "kendall": False,
}
QUALITY_HEADERS = {
    "regret@1": "Regret@1 %",
    "regret@3": "Regret@3 %",
    "delta_regret@1": "ΔRegret@1 %",
    "delta_regret@3": "ΔRegret@3 %",
    "ndcg": "NDCG",
    "spearman": "Spearman",
    "kendall": "Kendall",
}


# --------------------------------------------------------------------------------------------- rank.csv


def rank_frame(per_seed: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """rank.csv's rows from per-seed scores (columns intermediate, mlm, target, seed, examples, rows and one
    per method): each method's mean over the seeds that have a score, and its rank within the target."""
    rows = []
    for (intermediate, mlm, target), group in per_seed.groupby(["intermediate", "mlm", "target"], sort=False):
        for method in methods:
            values = group[method].dropna() if method in group else pd.Series(dtype=float)
            rows.append(
                {
                    "intermediate": intermediate,
                    "mlm": bool(mlm),
                    "target": target,
                    "method": method,
                    "score": float(values.mean()) if len(values) else math.nan,
                    # the intermediate models scored; a data set's score does not depend on one
                    "seeds": int(len(values)) if method in MODEL_METHODS else pd.NA,
                    "examples": int(group["examples"].max()),
                    "rows": float(group["rows"].max()) if method in MODEL_METHODS else math.nan,
                }
            )
    frame = pd.DataFrame(rows, columns=[c for c in RANK_COLUMNS if c != "rank"])
    frame["rank"] = frame.groupby(["target", "method"])["score"].rank(method="min", ascending=False)
    frame["rows"] = frame["rows"].astype("Int64")
    frame["seeds"] = frame["seeds"].astype("Int64")
    frame["rank"] = frame["rank"].astype("Int64")
    return frame[RANK_COLUMNS]


def read_rank_file(path: Path) -> pd.DataFrame:
    """rank.csv as `rank_frame` wrote it; BadInput naming the file and what is wrong."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file (stilts rank SWEEP writes it next to the sweep's scores.csv)")
    try:
        frame = pd.read_csv(path, dtype={"intermediate": str, "target": str, "method": str})
    except (ValueError, pd.errors.ParserError) as error:
        raise BadInput(f"{path}: not a rank table ({str(error).splitlines()[0]})") from None
    missing = [column for column in RANK_COLUMNS if column not in frame.columns]
    if missing:
        raise BadInput(f"{path}: not a rank table: no column {', '.join(missing)} (expected {','.join(RANK_COLUMNS)})")
    unknown = sorted(set(frame["method"]) - set(METHODS))
    if unknown:
        raise BadInput(f"{path}: unknown method '{unknown[0]}' (stilts rank's are {', '.join(METHODS)})")
    frame["mlm"] = frame["mlm"].astype(str).str.lower().map({"true": True, "false": False})
    if frame["mlm"].isna().any():
        raise BadInput(f"{path}: column mlm: expected true or false")
    for column in ("score", "rank", "seeds", "examples", "rows"):
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise BadInput(f"{path}: column {column}: expected numbers")
    for column in ("rank", "seeds", "rows"):
        frame[column] = frame[column].astype("Int64")
    return frame


def score_grids(frame: pd.DataFrame) -> list[Grid]:
    """One table per method: rows the configurations, columns the targets, cells ``score (#rank)``."""
    grids = []
    targets = list(dict.fromkeys(frame["target"]))
    configs = sort_configs(zip(frame["intermediate"], frame["mlm"]))
    for method, rows in frame.groupby("method", sort=False):
        cells = {(r.intermediate, bool(r.mlm), r.target): (r.score, r.rank) for r in rows.itertuples()}
        body = []
        for intermediate, mlm in configs:
            line = [configuration_name(intermediate, mlm)]
            for target in targets:
                score, rank = cells.get((intermediate, mlm, target), (math.nan, pd.NA))
                line.append("-" if pd.isna(score) else f"{_score_text(str(method), score)} (#{rank})")
            body.append(line)
        seeds = sorted(set(rows["seeds"].dropna()[rows["seeds"].dropna() > 0]))
        caption = f"{method}: {METHODS[str(method)]}; higher ranks first (#1)"
        if str(method) in MODEL_METHODS:
            examples = sorted(set(rows["examples"]))
            caption += f", on {', '.join(map(str, examples))} examples of each target"
            if seeds:
                counts = "/".join(map(str, seeds))
                caption += (
                    ", one seed's intermediate model"
                    if seeds == [1]
                    else f", the mean over {counts} seeds' intermediate models"
                )
        notes = []
        if rows["score"].isna().any():
            notes.append(f"-: no {method} score (a target without labels, or a configuration without labelled data)")
        grids.append(Grid(["Intermediate", *targets], body, right_from=1, caption=caption + ".", notes=notes))
    return grids


def _score_text(method: str, score: float) -> str:
    if method == "size":
        return f"{score:,.0f}"
    # LogME and H-score of models that differ little differ in the fourth or fifth digit
    return f"{score:.3f}" if method == "textemb" else f"{score:.6g}"


# ---------------------------------------------------------------------------------------- its quality


@dataclass
class TargetQuality:
    """How each method ranked one target's configurations: ``side_by_side`` (per configuration its result,
    true rank, the regret of choosing it and each method's predicted rank), ``metrics`` (method x quality
    metric, ``noise ceiling`` the last row), and notes."""

    target: str
    split: str
    side_by_side: pd.DataFrame
    metrics: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def target_split(scores: pd.DataFrame, target: str, split: str | None) -> str | None:
    """The split a target's rankings are measured on: ``split``, or where None, dev, or the target's one split
    when it has no dev scores (the tables' rule, per target); None when the target has no rows of it."""
    present = set(scores.loc[scores["target"] == target, "split"])
    if split is None:
        split = DEFAULT_SPLIT if DEFAULT_SPLIT in present or len(present) != 1 else next(iter(present))
    return split if split in present else None


def true_results(scores: pd.DataFrame, target: str, split: str) -> dict[tuple[str, bool], dict[str, float]]:
    """configuration -> seed -> the run's language-averaged main metric of ``target`` on ``split`` (a QA
    target's mean of F1 and EM), from scores.csv's rows (`stilts.reports.scores.load_scores`)."""
    rows = select_split(scores[scores["target"] == target], split)
    runs = run_averages(rows)
    per_run = runs.groupby(["intermediate", "mlm", "seed"], sort=False)["value"].mean()
    results: dict[tuple[str, bool], dict[str, float]] = {}
    for (intermediate, mlm, seed), value in per_run.items():
        results.setdefault((str(intermediate), bool(mlm)), {})[str(seed)] = float(value)
    return results


def ranking_quality(rank: pd.DataFrame, scores: pd.DataFrame, split: str | None = None) -> list[TargetQuality]:
    """Per target of ``rank`` with results in ``scores`` (on ``split``, by default `target_split`'s), how good
    each method's ranking is."""
    report = []
    for target, rows in rank.groupby("target", sort=False):
        chosen = target_split(scores, str(target), split)
        if chosen is not None:
            report.append(_target_quality(str(target), chosen, rows, true_results(scores, str(target), chosen)))
    return report


def _target_quality(target: str, split: str, rows: pd.DataFrame, results: dict) -> TargetQuality:
    baseline_seeds = results.get((BASELINE, False))
    ranked = {(r.intermediate, bool(r.mlm)) for r in rows.itertuples()}
    configs = [config for config in sort_configs(ranked) if config in results]
    notes = []
    unrun = sorted(configuration_name(*c) for c in ranked if c not in results)
    if unrun:
        notes.append(f"not yet run on {target}, so left out: {', '.join(unrun)}.")
    names = {config: configuration_name(*config) for config in configs}
    truth = {names[c]: results[c] for c in configs}
    means = rq.mean_results(truth) if truth else {}
    side = pd.DataFrame({"result": pd.Series(means, dtype=float)})
    side["true rank"] = side["result"].rank(method="min", ascending=False).astype("Int64")
    best = side["result"].max() if len(side) else math.nan
    side["regret %"] = 100 * (best - side["result"]) / best if best and best > 0 else math.nan
    predictions = {}
    for method, method_rows in rows.groupby("method", sort=False):
        scored = {
            configuration_name(r.intermediate, bool(r.mlm)): float(r.score)
            for r in method_rows.itertuples()
            if (r.intermediate, bool(r.mlm)) in results and not pd.isna(r.score)
        }
        side[f"{method} rank"] = pd.Series(scored, dtype=float).rank(method="min", ascending=False).astype("Int64")
        if len(scored) == len(truth) and len(truth) >= 2:
            predictions[str(method)] = scored
        elif len(truth) >= 2:
            notes.append(f"{method}: no score for every configuration with results; not measured.")
    metrics = pd.DataFrame(columns=list(QUALITY_METRICS), dtype=float)
    if len(truth) < 2:
        notes.append(f"{len(truth)} intermediate configuration(s) with results on {target}: nothing to rank yet.")
        return TargetQuality(target, split, side, metrics, notes)
    baseline = baseline_seeds if baseline_seeds else None
    for method, predicted in predictions.items():
        metrics.loc[method] = pd.Series(rq.ranking_quality(predicted, truth, baseline=baseline))
    notes += _ceiling(metrics, predictions, truth, baseline)
    if len(set(means.values())) == 1:
        notes.append(
            "every configuration has the same result: no order is better than another (NDCG, rank correlations)."
        )
    trivial = [k for k in rq.REGRET_KS if k >= len(truth)]
    for k in trivial:  # the top k holds every configuration: no ranking can lose anything
        metrics[[f"regret@{k}", f"delta_regret@{k}"]] = math.nan
    if trivial:
        notes.append(
            f"Regret@{'/@'.join(map(str, trivial))} not shown: with {len(truth)} configurations the top "
            f"{trivial[0]} hold them all."
        )
    if baseline is None:
        notes.append("ΔRegret: no baseline runs (intermediate none) on this target to measure gains against.")
    return TargetQuality(target, split, side, metrics, notes)


def _ceiling(metrics: pd.DataFrame, predictions: dict, truth: dict, baseline) -> list[str]:
    """The noise ceiling's row in ``metrics`` and what it says about each method; notes."""
    seeds = {len(by_seed) for by_seed in truth.values()}
    if seeds == {1}:
        return ["one seed per configuration: no noise ceiling; differences between rankings may be seed noise."]
    try:
        ceiling = rq.noise_ceiling(truth, baseline=baseline)
    except ValueError as error:
        return [f"no noise ceiling: {error}."]
    metrics.loc["noise ceiling"] = pd.Series(ceiling.metrics)
    first, second = ceiling.halves
    notes = [
        f"noise ceiling: each metric between the rankings by disjoint halves of the seeds ({first} and {second} "
        f"seeds, averaged over {ceiling.splits} splits); a half is noisier than all seeds, so it is conservative."
    ]
    for method, predicted in predictions.items():
        like_for_like = rq.noise_ceiling(truth, predicted=predicted, baseline=baseline).predicted or {}
        reached = [
            name
            for name, lower_is_better in QUALITY_METRICS.items()
            if name in ceiling.metrics
            and not (math.isnan(ceiling.metrics[name]) or math.isnan(like_for_like.get(name, math.nan)))
            and not _perfect(name, ceiling.metrics[name])  # matching a perfect ceiling claims nothing more
            and (
                like_for_like[name] <= ceiling.metrics[name]
                if lower_is_better
                else like_for_like[name] >= ceiling.metrics[name]
            )
        ]
        if reached:
            shown = ", ".join(
                f"{QUALITY_HEADERS[name]} {_quality_text(name, like_for_like[name])} vs "
                f"{_quality_text(name, ceiling.metrics[name])}"
                for name in reached
            )
            notes.append(
                f"{method} is at or above the noise ceiling in {shown} (against the same seed halves): these seeds "
                "cannot tell its ranking from the truth there, so the data do not show it ranks any better than that."
            )
    return notes


def _perfect(name: str, value: float) -> bool:
    """Whether a quality metric's ``value`` is the best it can be (a regret of 0, a correlation of 1)."""
    return value <= 1e-12 if QUALITY_METRICS[name] else value >= 1 - 1e-12


def _quality_text(name: str, value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{100 * value:.1f}" if "regret" in name else f"{value:.2f}"


def quality_grids(report: list[TargetQuality]) -> list[Grid]:
    """Per target: the side-by-side table, then the methods' quality metrics and the noise ceiling."""
    grids = []
    for quality in report:
        side = quality.side_by_side
        predicted = [column for column in side.columns if column not in ("result", "true rank", "regret %")]
        header = ["Intermediate", "result", "true rank", "regret %", *predicted]
        body = [
            [name, number(row["result"]), _int_text(row["true rank"]), number(row["regret %"])]
            + [_int_text(row[column]) for column in predicted]
            for name, row in side.iterrows()
        ]
        caption = (
            f"{quality.target} ({quality.split}): result = mean over seeds of each run's language-averaged main "
            "metric; regret = the share of the best result lost by choosing that configuration; rank #1 = best."
        )
        grids.append(Grid(header, body, right_from=1, caption=caption))
        if quality.metrics.empty:  # nothing measured: the notes say why
            grids[-1].notes = list(quality.notes)
            continue
        columns = [name for name in QUALITY_METRICS if quality.metrics[name].notna().any()]
        body = [
            [str(method), *[_quality_text(name, float(row[name])) for name in columns]]
            for method, row in quality.metrics.iterrows()
        ]
        caption = (
            f"{quality.target}: how good each ranking is. Regret@k: % of the best result (ΔRegret: of the best gain "
            "over the baseline) lost by training only the top k; NDCG, Spearman, Kendall: 1 = the true order."
        )
        grids.append(
            Grid(
                ["Method", *[QUALITY_HEADERS[n] for n in columns]],
                body,
                right_from=1,
                caption=caption,
                notes=quality.notes,
            )
        )
    return grids


def quality_csv(report: list[TargetQuality]) -> str:
    """The quality metrics as CSV: target, split, method (or ``noise ceiling``), metric, value (regret as a
    fraction)."""
    rows = [
        {"target": quality.target, "split": quality.split, "method": method, "metric": name, "value": float(row[name])}
        for quality in report
        for method, row in quality.metrics.iterrows()
        for name in QUALITY_METRICS
    ]
    return pd.DataFrame(rows, columns=["target", "split", "method", "metric", "value"]).to_csv(index=False)


def _int_text(value) -> str:
    return "-" if pd.isna(value) else str(int(value))
