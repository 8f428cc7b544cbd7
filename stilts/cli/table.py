"""`stilts table`: transfer tables (and a heatmap) from a sweep's scores.csv."""

from __future__ import annotations

from pathlib import Path

import click

from stilts.analysis.languages import DISTANCES, GROUPINGS, SOURCE_LANGUAGE
from stilts.core.artifacts import read_json
from stilts.core.catalog import BENCHMARKS, TASKS, benchmark_targets, get_task
from stilts.core.errors import BadInput, did_you_mean
from stilts.core.names import CONFIG_KEYS, CONFIG_KEYS_BY, SETTING_SEPARATOR, configuration_name, split_setting
from stilts.reports import aggregate, order, render, scores_file, typology
from stilts.reports import scores as sc

CAPTION_CELLS = "median over seeds of each run's language-averaged score"
CAPTION_QA = "QA cells: F1/EM."
CAPTION_AVG = "Avg.: mean over targets, a QA target counting as mean(F1, EM)."
#: how many configuration names an error message lists before it says how many there are
LISTED_NAMES = 12
#: what a --by value's names are called in messages
BY_NOUNS = {"intermediate": "intermediate task", "pipeline": "pipeline"}


@click.command("table")
@click.argument("scores_csv", metavar="SCORES_CSV")
@click.option(
    "--split",
    default=None,
    metavar="SPLIT",
    help=f"Split to tabulate: the `split` value in scores.csv, e.g. dev or test. [default: {aggregate.DEFAULT_SPLIT}, "
    "or the one split SCORES_CSV has when it has no dev scores, as for targets evaluated on test only]",
)
@click.option(
    "--by",
    type=click.Choice(sorted(CONFIG_KEYS_BY)),
    default="intermediate",
    show_default=True,
    help="What a row (a configuration) is: the intermediate task and MLM flag, or the pipeline (its runs "
    "with different seeds pooled), for runs that differ in something else, e.g. target-stage settings. "
    "A sweep's pipeline names count without their target and seed (mnli-panx-de-s1: row mnli-de), so a "
    "row pools its seeds and spans its targets. Pipelines are listed in the order they first appear in "
    "SCORES_CSV.",
)
@click.option(
    "--baseline",
    "baseline_name",
    metavar="NAME",
    default=None,
    help="The row --delta, --ci's deltas and --plot subtract: an intermediate task (MLM off) [default: "
    "none], or with --by pipeline a pipeline (no default: required there).",
)
@click.option(
    "--delta",
    is_flag=True,
    help="Cells are differences to the baseline (--baseline; by default intermediate none, MLM off); the "
    "baseline's row, first in every format, shows its absolute scores (csv: column kind = absolute|delta).",
)
@click.option(
    "--per-language",
    "per_language",
    metavar="TASK",
    help="Per-language table of one target task (columns: languages, then Avg).",
)
@click.option(
    "--group-languages",
    "group_by",
    type=click.Choice(GROUPINGS),
    default=None,
    help="With --per-language: a column per group of languages, by family (Glottolog), script (ISO 15924) or "
    "resource_class (Joshi et al. 2020), from stilts/analysis/languages.csv: the median over seeds of each run's "
    "mean over the group's languages, its number of languages in brackets; the language the target trains on a "
    "column of its own, languages the table lacks in a group 'unknown'. --delta, --ci and --plot as for languages.",
)
@click.option(
    "--distance",
    type=click.Choice(DISTANCES),
    default=None,
    help="With --per-language: per configuration, the least-squares slope of its per-language delta (with "
    "--delta; without, its score) on the language's URIEL+ distance to English, how many languages, R^2 and "
    "Spearman, the source language left out; with --ci the slope's paired bootstrap interval (the line re-fitted "
    "on each draw of the evaluation examples and seeds, the languages held fixed); with --plot a scatter per "
    "configuration, each language labelled, with its line.",
)
@click.option(
    "--best",
    is_flag=True,
    help="Best configuration per target chosen on dev, reported on test (dev where a target has "
    "no test scores), and the benchmark scores: XTREME's, XTREME-R's (8 of its 10 tasks: stilts has no "
    "Mewsli-X, LAReQA), XGLUE's understanding score, each where the file has a target of it that no benchmark "
    "before it has (XTREME-R: XCOPA), or --benchmark's.",
)
@click.option(
    "--benchmark",
    type=click.Choice(sorted(BENCHMARKS.names())),
    default=None,
    help="Only this benchmark's targets (XTREME's 9, XTREME-R's 8 that stilts has, XGLUE's 9 xglue_* tasks), "
    "and with --best only its score. Default: every target in the file; --best scores each benchmark as above.",
)
@click.option(
    "--format",
    "fmt",
    default="md",
    show_default=True,
    metavar="md|csv|latex|html",
    help="Output format. csv is for scripts: fixed columns, unrounded, notes on stderr.",
)
@click.option(
    "--plot",
    "plot_path",
    metavar="FILE.png",
    help="Also draw the delta table as an annotated heatmap (needs stilts[plots]); where a few "
    "large deltas would wash out the colours, they are clipped (said under the figure); with --ci each "
    "cell shows its interval and is hatched where it includes 0.",
)
@click.option(
    "--vmax",
    type=click.FloatRange(min=0, min_open=True),
    metavar="POINTS",
    help="Fix the heatmap's colour scale at ±POINTS (figures to compare side by side). Default: fitted to "
    "the deltas, and with --ci at least the intervals' median half-width, so that a delta inside its "
    "uncertainty stays pale.",
)
@click.option("--show-n", is_flag=True, help="Show the number of seeds (runs) behind each cell.")
@click.option(
    "--ci",
    "ci_level",
    type=click.FloatRange(min=0, max=100, min_open=True, max_open=True),
    metavar="LEVEL",
    help="Add LEVEL% paired bootstrap intervals (with --delta: of the deltas, `*` where they exclude 0; "
    "the heatmap hatches the others) and the seed standard deviation (±). Resamples the evaluation "
    "examples (the same for every configuration) and the seeds, from the evaluate stages' "
    "per-example predictions in the run folder of SCORES_CSV.",
)
@click.option(
    "--rank",
    "rank_csv",
    metavar="RANK_CSV",
    type=click.Path(dir_okay=False, path_type=Path),
    help="How good the rankings in RANK_CSV (what `stilts rank` wrote) are against these results: per target "
    "each configuration's result, true and predicted ranks and regret, then Regret@1/@3, NDCG, Spearman, "
    "Kendall and the noise ceiling (docs/ranking.md).",
)
@click.option(
    "--calibration",
    is_flag=True,
    help="Per-language expected calibration error of each configuration (mean over seeds), before and after "
    "temperature scaling fitted on each run's English dev, from the answer probabilities its evaluate stage "
    "kept (classification and multiple-choice targets). csv: one row per run and language.",
)
@click.option(
    "--reliability",
    "reliability_csv",
    metavar="FILE.csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --calibration: write the reliability diagrams' bins (per run, language, and before/after "
    "scaling: the bin's confidence range, count, mean confidence and accuracy) to FILE.csv.",
)
@click.option(
    "--resamples", default=1000, show_default=True, type=click.IntRange(min=100), help="Bootstrap draws for --ci."
)
@click.option(
    "--bootstrap-seed", default=0, show_default=True, type=click.IntRange(min=0), help="Random seed of the --ci draws."
)
def table(
    scores_csv,
    split,
    by,
    baseline_name,
    delta,
    per_language,
    group_by,
    distance,
    best,
    benchmark,
    fmt,
    plot_path,
    vmax,
    show_n,
    ci_level,
    rank_csv,
    calibration,
    reliability_csv,
    resamples,
    bootstrap_seed,
):
    """Transfer table from a scores.csv (rows: intermediate configurations, or pipelines with --by
    pipeline; columns: target tasks).

    A cell is the median over seeds of each run's language-averaged main metric (accuracy for xnli,
    pawsx, tatoeba; F1 for udpos, panx, bucc; F1/EM for xquad, mlqa, tydiqa; XGLUE's: F1 for xglue_ner
    and xglue_mlqa, seqeval precision for xglue_pos, nDCG for xglue_wpr, accuracy for the others) on
    --split (default dev, or the file's one split). A missing cell is `-` (an empty field in csv), never 0.
    """
    if fmt not in render.FORMATS:
        raise BadInput(
            f"--format: unknown format '{fmt}', expected one of {', '.join(render.FORMATS)}"
            f"{did_you_mean(fmt, render.FORMATS)}"
        )
    if vmax is not None and not plot_path:
        raise BadInput("--vmax: sets the heatmap's colour scale; give --plot FILE.png too")
    for given, option in ((group_by, "--group-languages"), (distance, "--distance")):
        if given and not per_language:
            raise BadInput(f"{option}: is about one target's languages; give --per-language TASK too")
    if group_by and distance:
        raise BadInput("--distance: fits languages, not groups; it does not go with --group-languages")
    if distance and vmax is not None:
        raise BadInput("--vmax: sets the heatmap's colour scale; --distance --plot draws scatter plots")
    if distance and show_n:
        raise BadInput("--show-n: counts seeds in cells; --distance shows how many languages each slope fits")
    if best:
        for given, option in (
            (per_language, "--per-language"),
            (delta, "--delta"),
            (plot_path, "--plot"),
            (split, "--split"),
            (ci_level, "--ci"),
            (baseline_name, "--baseline"),
        ):
            if given:
                raise BadInput(f"{option}: cannot be combined with --best (it selects on dev and reports test)")

    if reliability_csv and not calibration:
        raise BadInput("--reliability: writes the bins of --calibration; give --calibration too")
    scores = sc.load_scores(scores_csv)
    if calibration:
        _alone(
            "--calibration",
            per_language=per_language,
            delta=delta,
            best=best,
            plot=plot_path,
            ci=ci_level,
            rank=rank_csv,
        )
        _show_calibration(scores, split, fmt, reliability_csv)
        return
    if rank_csv:
        _alone("--rank", per_language=per_language, delta=delta, best=best, plot=plot_path, ci=ci_level)
        from stilts.cli.rank import show_quality
        from stilts.reports.ranking import read_rank_file

        show_quality(read_rank_file(rank_csv), scores, split, fmt)
        return
    path = sc.source_of(scores)
    unstaged = (scores.attrs["unstaged"], len(scores))
    if benchmark:
        scores = aggregate.benchmark_rows(scores, benchmark)
        scores.attrs["path"] = path
    if not scores.empty and scores["value"].max() <= 1.0:
        click.echo(f"warning: {path}: every value is at most 1; scores.csv values are on a 0-100 scale", err=True)
    config_keys = CONFIG_KEYS_BY[by]
    if by == "pipeline":
        scores = sc.pipeline_rows(scores)
    sc.check_one_run_per_seed(scores, config_keys)  # before any warning: bad input is one line
    if by == "pipeline":
        _warn_about_reused_names(scores)

    if best:
        for not_zero_shot, what, why in (  # no benchmark score may pick them
            (aggregate.has_sets, "k-shot", "they fine-tune on target-language examples"),
            (aggregate.translated_training, "translate-train", "they train on machine-translated target-language data"),
            (
                aggregate.is_translate_test,
                "translate-test",
                "they score machine translations of the target-language data",
            ),
        ):
            left_out = not_zero_shot(scores)
            if left_out.any():
                rows = _listed(sorted(set(scores.loc[left_out, by])))
                click.echo(
                    f"note: {path}: --best leaves out the {what} rows ({rows}): {why}, "
                    "and benchmark scores are zero-shot",
                    err=True,
                )
                scores = scores[~left_out]
        aggregate.select_split(scores, aggregate.DEFAULT_SPLIT)
        chosen = aggregate.best_by_dev(scores, config_keys=config_keys)
        shown = [benchmark] if benchmark else None
        if fmt == "csv":
            _echo_csv(
                render.best_csv(chosen, show_n, shown, config_keys),
                render.best_grid(chosen, benchmarks=shown, config_keys=config_keys).notes,
            )
        else:
            click.echo(render.render_grid(render.best_grid(chosen, show_n, shown, config_keys), fmt), nl=False)
        _warn_about_unstaged_rows(path, *unstaged)
        return

    # --distance without --delta fits scores: its plot subtracts nothing
    subtracting = "--delta" if delta else "--plot" if plot_path and not distance else None
    baseline = _baseline(scores, by, baseline_name, subtracting)

    split = split or _default_split(scores)
    source, grouping = SOURCE_LANGUAGE, None
    if per_language:
        ordered = benchmark_targets()
        known = list(ordered) + [t for t in order.targets_in(scores) if t not in ordered]
        if per_language not in known:
            raise BadInput(f"--per-language: unknown target task '{per_language}'{did_you_mean(per_language, known)}")
        if per_language in TASKS:
            source = get_task(per_language).source_language
        if group_by:
            present = scores.loc[(scores["target"] == per_language) & (scores["split"] == split), "language"]
            grouping = typology.language_grouping(list(present), group_by, source)
        values, counts = aggregate.language_cells(
            scores, per_language, split, config_keys, grouping.groups if grouping else None
        )
        labels = {"avg": "Avg"} | (grouping.labels if grouping else {})
        caption = f"{per_language}, split {split}: " + (
            grouping.caption if grouping else "median over seeds per language"
        )
        if order.is_qa(dict.fromkeys(values.columns.get_level_values(1))):
            caption += " (F1/EM)"
        caption += "; Avg = " + CAPTION_CELLS + " (the main table's cell)"
        notes = list(grouping.notes) if grouping else []
    else:
        values, counts = aggregate.transfer_cells(scores, split, config_keys)
        labels = {target: f"{target} (F1/EM)" for target, metric in values.columns if metric == "exact_match"}
        labels["avg"] = "Avg."
        caption = f"Split {split}: {CAPTION_CELLS}"
        notes = _main_notes(scores, values, split)
        values = aggregate.with_average(values)
    run_notes = _trained_on_notes(scores, split, per_language) + _collapsed_notes(scores, split, per_language)
    if aggregate.translated_training(scores[scores["split"] == split]).any():
        run_notes.append(
            "translate-train rows (<configuration>/translate-train-<languages>): the target stage trained on its "
            "English training data machine-translated into those languages (all: English and every language of "
            "the task), not zero-shot; a language trained on in translation is scored on its original test data."
        )
    run_notes += _shot_language_notes(scores, split, by, per_language)
    notes += run_notes
    spreads = aggregate.set_spreads(scores, split, config_keys, per_language)
    spread = aggregate.spread_frame(spreads, values) if not spreads.empty else None
    if spread is not None:
        sets = scores.loc[aggregate.has_sets(scores) & (scores["split"] == split), "seed"].map(_set_of).nunique()
        notes.append(
            f"k-shot rows (<configuration>/<k>-shot): each run's score is the mean over its {sets} sets of shots, "
            "never the sets taken as seeds; ± is the standard deviation over the sets (the median over the seeds "
            "of each seed's), of the row's own scores."
        )

    if subtracting and baseline not in values.index:
        what = f"target '{per_language}' with " if per_language else ""
        raise BadInput(
            f"{path}: {subtracting}: no baseline rows ({order.config_text(baseline, config_keys)}) "
            f"for {what}split '{split}'"
        )

    # what every bootstrap of this table draws from: the same draws for its cells, intervals and slopes
    drawn = dict(
        run_dir=Path(path).parent,
        split=split,
        per_language=per_language,
        n_resamples=resamples,
        seed=bootstrap_seed,
        config_keys=config_keys,
        baseline=baseline,
    )
    if distance:
        draws = None
        if ci_level:
            from stilts.reports.bootstrap import cell_draws

            draws, _ = cell_draws(scores, values, delta=delta, **drawn)
        _show_distance(
            values,
            target=per_language,
            split=split,
            distance=distance,
            source=source,
            delta=delta,
            baseline=baseline,
            config_keys=config_keys,
            draws=draws,
            level=ci_level,
            seed=bootstrap_seed,
            fmt=fmt,
            plot_path=plot_path,
            notes=run_notes,
        )
        _warn_about_unstaged_rows(path, *unstaged)
        return

    def intervals_of(deltas: bool):
        from stilts.reports.bootstrap import table_intervals

        return table_intervals(
            scores, values, level=ci_level, delta=deltas, groups=grouping.groups if grouping else None, **drawn
        )

    intervals = intervals_of(delta) if ci_level else None
    if delta:
        caption += f"; differences to the baseline ({_baseline_words(baseline, config_keys)})"
        shown = render.Table(
            aggregate.deltas(values, baseline),
            counts,
            labels,
            signed=True,
            baseline=values.loc[baseline],
            caption=caption,
            notes=notes,
            intervals=intervals,
            spread=spread,
        )
    else:
        shown = render.Table(values, counts, labels, caption=caption, notes=notes, intervals=intervals, spread=spread)
    shown.caption += "." if per_language else f". {CAPTION_QA} {CAPTION_AVG}"
    if intervals is not None:
        shown.caption += f" {intervals.method[0].upper()}{intervals.method[1:]}."
        shown.notes.append(
            "[low, high]: the interval"
            + ("; * the delta's interval excludes 0" if delta else "")
            + "; ± the standard deviation over seeds (of the configuration's own scores)."
        )

    if fmt == "csv":
        _echo_csv(render.table_csv(shown, show_n), shown.notes)
    else:
        if delta:
            shown.notes.insert(
                0,
                f"the baseline row ({_baseline_row(baseline, config_keys)}) shows absolute scores; other rows are "
                "differences to it.",
            )
        click.echo(render.render_grid(render.table_grid(shown, show_n), fmt), nl=False)

    if plot_path:
        from stilts.reports.plot import plot_heatmap

        if per_language:  # languages, groups of them ("Indo-European (6)") and Avg
            columns = dict(labels)
        else:
            columns = {target: f"{target}\n(F1+EM)/2" for target in labels if target != "avg"} | {"avg": labels["avg"]}
        matrix = aggregate.group_scores(aggregate.deltas(values, baseline)).rename(columns=columns)
        named = f" {_baseline_row(baseline, config_keys)}" if baseline_name else ""
        grouped = f" by {group_by.replace('_', ' ')}" if group_by else ""
        title = f"{per_language}{grouped}: " if per_language else ""
        title += f"difference to baseline{named} ({split})"
        significant, plotted_intervals = None, None
        if ci_level:
            plotted = intervals if delta else intervals_of(True)
            significant = plotted.group_significant().rename(columns=columns)
            plotted_intervals = (plotted.group_low.rename(columns=columns), plotted.group_high.rename(columns=columns))
        plot_heatmap(matrix, plot_path, title, significant, intervals=plotted_intervals, level=ci_level, vmax=vmax)
        click.echo(f"wrote {plot_path}", err=True)
    _warn_about_unstaged_rows(path, *unstaged)


def _show_distance(
    values,
    *,
    target: str,
    split: str,
    distance: str,
    delta: bool,
    baseline,
    config_keys,
    fmt: str,
    plot_path,
    notes: list[str],
    **others,
) -> None:
    """`--distance`: the slope table of `typology.distance_fits` (``others``: its other arguments) instead of
    the per-language table, and with ``plot_path`` the scatter plots."""
    result = typology.distance_fits(
        values,
        target=target,
        split=split,
        distance=distance,
        delta=delta,
        baseline=baseline,
        baseline_words=_baseline_words(baseline, config_keys) if delta else "",
        config_keys=config_keys,
        **others,
    )
    result.notes += notes
    if fmt == "csv":
        _echo_csv(typology.distance_csv(result), result.notes)
    else:
        click.echo(render.render_grid(typology.distance_grid(result), fmt), nl=False)
    if plot_path:
        from stilts.reports.plot import plot_distance

        what = "difference to baseline" if delta else "score"
        plot_distance(result, plot_path, f"{target}: {what} by {distance} distance to English ({split})")
        click.echo(f"wrote {plot_path}", err=True)


def _show_calibration(scores, split: str | None, fmt: str, reliability_csv: Path | None) -> None:
    from stilts.core.artifacts import write_text_atomic
    from stilts.reports.calibration_table import calibration, calibration_grids

    result = calibration(scores, Path(sc.source_of(scores)).parent, split or _default_split(scores))
    if reliability_csv:
        write_text_atomic(reliability_csv, result.reliability.to_csv(index=False))
        click.echo(f"wrote {reliability_csv}", err=True)
    if fmt == "csv":
        _echo_csv(result.runs.to_csv(index=False), result.notes)
        return
    for grid in calibration_grids(result):
        click.echo(render.render_grid(grid, fmt))


def _alone(option: str, **others) -> None:
    """BadInput when an option of the transfer table (``others``, by name) is given with ``option``, which
    shows tables of its own (--split and --format go with it)."""
    for name, value in others.items():
        if value:
            raise BadInput(f"{option}: shows its own tables; it does not go with --{name.replace('_', '-')}")


def _trained_on_notes(scores, split: str, target: str | None) -> list[str]:
    """One note per run whose cells include scores on what its model trained on (allow_overlap)."""
    marked = scores[scores[scores_file.TRAINED_ON] & (scores["split"] == split)]
    if target:
        marked = marked[marked["target"] == target]
    return [
        f"NOT ZERO-SHOT: {pipeline} (seed {seed}) scored {target_name} {split} in "
        f"{' '.join(sorted(set(rows['language'])))} on examples its model trained on, or on translations of "
        "them (allow_overlap); its cells include them."
        for (pipeline, seed, target_name), rows in marked.groupby(["pipeline", "seed", "target"], sort=True)
    ]


def _collapsed_notes(scores, split: str, target: str | None) -> list[str]:
    """One note per evaluation whose model gave every example of a language the same answer (its
    metrics.json's ``constant_predictions``): those cells score a constant predictor, a collapsed model,
    not transfer. Rows whose stage is unknown (scores.csv written before it named stages) are not read."""
    rows = scores[(scores["split"] == split) & (scores[scores_file.STAGE] != "")]
    if target:
        rows = rows[rows["target"] == target]
    run_dir = Path(sc.source_of(scores)).parent
    notes = []
    for (pipeline, seed, target_name, stage), of_stage in rows.groupby(
        ["pipeline", "seed", "target", scores_file.STAGE], sort=True
    ):
        constant = read_json(run_dir / stage / "metrics.json").get("constant_predictions", {}).get(split, {})
        languages = sorted(set(of_stage["language"]) & set(constant))
        if languages:
            answers = ", ".join(f"{language} {constant[language]!r}" for language in languages)
            notes.append(
                f"COLLAPSED: {pipeline} (seed {seed}) gave every {target_name} {split} example one answer in "
                f"{answers}: those cells score a constant predictor, not transfer."
            )
    return notes


def _shot_language_notes(scores, split: str, by: str, target: str | None) -> list[str]:
    """A k-shot row's cells average over the languages it was fine-tuned and scored in; where those are not
    the languages of its configuration's own rows (the zero-shot ones), say so: the averages differ in
    what they average, not only in the shots."""
    rows = scores[(scores["split"] == split) & (target is None or scores["target"] == target)]
    notes = []
    shots = rows[aggregate.has_sets(rows)]
    for (row, target_name), of_row in shots.groupby([by, "target"], sort=True):
        base = split_setting(row)[0]
        own = rows[(rows[by] == base) & (rows["target"] == target_name)]
        languages, own_languages = sorted(set(of_row["language"])), sorted(set(own["language"]))
        if not own.empty and languages != own_languages:
            notes.append(
                f"{row} scored {target_name} in {', '.join(languages)}; {base} in {', '.join(own_languages)}: "
                "their averages are not over the same languages."
            )
    return notes


def _set_of(seed: str) -> str:
    """``set0`` of ``1/set0``."""
    return str(seed).partition(SETTING_SEPARATOR)[2]


def _warn_about_unstaged_rows(path: str, unstaged: int, rows: int) -> None:
    """Rows naming no evaluate stage (a file written before scores.csv had the column) are tabulated as
    before, but a run's rows cannot be checked to come from one stage: say so, after the table, and how
    to add the column (bad input stays one line: this comes only once the table is out)."""
    if unstaged:
        click.echo(
            f"warning: {path}: {unstaged} of {rows} rows name no evaluate stage (written before scores.csv "
            "had a stage column), so the table cannot check that each run's rows come from one model; running "
            f"their pipelines or sweep again into {Path(path).parent} (complete stages are reused) adds it",
            err=True,
        )


def _default_split(scores) -> str:
    """dev, the split to compare and choose on; but a file without dev scores that has one split (the
    demo's topics and other targets evaluated on test only) is tabulated on that split, not refused."""
    present = set(scores["split"])
    if aggregate.DEFAULT_SPLIT not in present and len(present) == 1:
        return present.pop()
    return aggregate.DEFAULT_SPLIT


def _baseline(scores, by: str, name: str | None, subtracting: str | None):
    """The configuration (index label) that ``subtracting`` (--delta, else --plot, or None) subtracts:
    --baseline NAME's, by default intermediate none. By pipeline there is no default (no pipeline is the
    baseline by its name, as intermediate none is), so the user must say which one the others are
    compared with."""
    present, noun = list(dict.fromkeys(scores[by])), BY_NOUNS[by]
    if name is None:
        if by == "intermediate":
            return order.BASELINE_CONFIG
        if subtracting is None:
            return None
        raise BadInput(
            f"{subtracting}: --by {by} has no default baseline; name one with --baseline NAME "
            f"({noun}s in {sc.source_of(scores)}: {_listed(present)})"
        )
    if name not in present:
        raise BadInput(
            f"--baseline: no {noun} '{name}' in {sc.source_of(scores)}{did_you_mean(name, present)}; "
            f"{noun}s present: {_listed(present)}"
        )
    return order.baseline_config(name, CONFIG_KEYS_BY[by])


def _warn_about_reused_names(scores) -> None:
    """--by pipeline pools a pipeline's runs as its seeds; a name re-used for another intermediate
    configuration (a re-run with other stages) would pool different systems, so say so."""
    configs = scores.drop_duplicates(["pipeline", *CONFIG_KEYS]).groupby("pipeline", sort=False)
    for pipeline, rows in configs:
        if len(rows) > 1:
            intermediates = ", ".join(map(configuration_name, rows["intermediate"], rows["mlm"]))
            click.echo(
                f"warning: {sc.source_of(scores)}: pipeline '{pipeline}' has runs of {len(rows)} intermediate "
                f"configurations ({intermediates}); --by pipeline pools them as one pipeline's seeds",
                err=True,
            )


def _listed(names: list[str]) -> str:
    """Names for an error line: all of a few, the first LISTED_NAMES of a sweep's hundreds."""
    if len(names) <= LISTED_NAMES:
        return ", ".join(names)
    return ", ".join(names[:LISTED_NAMES]) + f", ... ({len(names)} in all)"


def _baseline_words(baseline, config_keys) -> str:
    """The caption's ``intermediate none, MLM off`` or ``pipeline NAME``."""
    parts = order.config_parts(baseline, config_keys).items()
    return ", ".join(("MLM on" if value else "MLM off") if key == "mlm" else f"{key} {value}" for key, value in parts)


def _baseline_row(baseline, config_keys) -> str:
    """The baseline row's first cells as the note names them: ``none, MLM no`` or the pipeline's name."""
    cells = zip(config_keys, render.config_cells(baseline, config_keys))
    return ", ".join(f"MLM {text}" if key == "mlm" else text for key, text in cells)


def _main_notes(scores, values, split) -> list[str]:
    notes = []
    in_split = set(values.columns.get_level_values(0))
    absent = [t for t in order.targets_in(scores) if t not in in_split]
    if absent:
        notes.append(f"no {split} scores for: {', '.join(absent)}.")
    incomplete = aggregate.row_average(values).isna()
    if incomplete.any():
        notes.append("Avg. is shown only for rows with a score for every target of the table.")
    return notes


def _echo_csv(text: str, notes) -> None:
    click.echo(text, nl=False)
    for note in notes:
        click.echo(f"note: {note}", err=True)
