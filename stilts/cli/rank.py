"""`stilts rank`: predict which intermediate configuration of a sweep helps each target, before the targets are
trained, and measure how good that prediction was once they are (`stilts.pipeline.rank`,
`stilts.reports.ranking`; docs/ranking.md)."""

from __future__ import annotations

from pathlib import Path

import click

from stilts.cli.common import OUTPUT_DIR, OVERRIDES, plan_sweep_file
from stilts.core.errors import BadInput
from stilts.reports.ranking import DEFAULT_EXAMPLES, METHODS, MODEL_METHODS, RANK_FILE
from stilts.reports.render import FORMATS


@click.command("rank")
@click.argument("sweep_file", type=click.Path(dir_okay=False, path_type=Path))
@OUTPUT_DIR
@OVERRIDES
@click.option(
    "--method",
    "methods",
    type=click.Choice(list(METHODS)),
    multiple=True,
    help="A method to score with (repeatable): logme and hscore need the intermediate stages complete, "
    "textemb and size need no stage. [default: all four]",
)
@click.option(
    "--examples",
    type=click.IntRange(min=2),
    default=DEFAULT_EXAMPLES,
    show_default=True,
    metavar="N",
    help="Labelled English examples of each target (a seeded sample of what its target stage trains on) "
    "that every intermediate model is scored on; TextEmb samples as many of each data set.",
)
@click.option(
    "--sample-seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed of the samples."
)
@click.option(
    "--seed",
    "seeds",
    type=int,
    multiple=True,
    help="Score only the intermediate models of this seed of the sweep (repeatable). [default: every seed]",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Forward-pass batch size [default: 64 on CPU, 256 on a GPU].",
)
@click.option(
    "--split",
    default=None,
    metavar="SPLIT",
    help="The split of scores.csv the rankings are measured against, once the targets ran [default: dev, or "
    "a target's one split where it has no dev scores].",
)
@click.option(
    "--submit",
    type=click.Choice(["slurm"]),
    default=None,
    help="Submit this command to Slurm as one job instead (the resources of the sweep's evaluate jobs, its "
    "slurm: block), after the jobs of the intermediate stages it needs that are queued or running; returns "
    "at once. Its output goes to <run dir>/logs/slurm/rank-<job>.out, rank.csv next to scores.csv.",
)
@click.option(
    "--format",
    "fmt",
    default="md",
    show_default=True,
    metavar="md|csv|latex|html",
    help="Output format of the tables; csv prints rank.csv's rows, then the quality metrics' rows.",
)
def rank(
    sweep_file: Path,
    output_dir: Path | None,
    overrides: tuple[str, ...],
    methods: tuple[str, ...],
    examples: int,
    sample_seed: int,
    seeds: tuple[int, ...],
    batch_size: int | None,
    split: str | None,
    submit: str | None,
    fmt: str,
) -> None:
    """Predict which intermediate configuration helps each target of a sweep, from forward passes only.

    For every (intermediate configuration, target) of SWEEP_FILE: LogME and shrinkage H-score of the
    intermediate model's features of N labelled English target examples, TextEmb similarity of the base
    model's features of both data sets, and the data-size baseline. Writes rank.csv next to the sweep's
    scores.csv and prints a table per method; once the sweep's targets ran, also how good each ranking
    is (Regret@1/@3, NDCG, Spearman, Kendall) beside the noise ceiling of the seeds. Needs the
    intermediate stages only (logme, hscore); scores already computed are reused.
    """
    from stilts.pipeline.engine import model_identity, resolve_model_reference
    from stilts.pipeline.rank import Ranker, check_complete, rank_sweep, sweep_pairs, write_rank_file

    if fmt not in FORMATS:
        raise BadInput(f"--format: unknown format '{fmt}', expected one of {', '.join(FORMATS)}")
    methods = methods or tuple(METHODS)
    planned = plan_sweep_file(sweep_file, overrides, output_dir)
    config, run_dir = planned.config, planned.run_dir
    if config.matrix.variant:
        raise BadInput(
            f"{sweep_file}: matrix.variant: stilts rank ranks intermediate configurations per target; rank a sweep "
            "of one variant at a time (--set matrix.variant=null with that variant's settings)"
        )
    unknown = [seed for seed in seeds if seed not in config.matrix.seed]
    if unknown:
        raise BadInput(f"--seed {unknown[0]}: not a seed of {sweep_file} (its seeds: {config.matrix.seed})")
    pairs = sweep_pairs(planned.plans, seeds)
    if not pairs:
        raise BadInput(f"{sweep_file}: matrix.intermediate: no intermediate configuration to rank, only the baseline")
    models = bool(set(methods) & set(MODEL_METHODS))
    sweep_command = _sweep_command(sweep_file, output_dir, overrides)
    if submit:
        import sys

        from stilts.pipeline.rank import submit_rank

        command = [sys.executable, "-m", "stilts", "rank", str(sweep_file.resolve()), "--output-dir", str(run_dir)]
        command += [f"--set={override}" for override in overrides] + [f"--method={method}" for method in methods]
        command += [f"--examples={examples}", f"--sample-seed={sample_seed}", f"--format={fmt}"]
        command += [f"--seed={seed}" for seed in seeds]
        command += [f"--batch-size={batch_size}"] * (batch_size is not None) + [f"--split={split}"] * bool(split)
        job, after = submit_rank(pairs, config.slurm, run_dir, config.name, command, sweep_command, models=models)
        waits = f", after job{'s' if len(after) > 1 else ''} {', '.join(after)}" if after else ""
        click.echo(f"submitted stilts rank as Slurm job {job}{waits}; its log: {run_dir}/logs/slurm/rank-{job}.out")
        return
    if models:
        check_complete(pairs, sweep_command)
    source = str(sweep_file)
    model_path = resolve_model_reference(config.model, planned.base_dir, source)

    from stilts.pipeline.local import quiet_libraries
    from stilts.training.devices import make_accelerator

    quiet_libraries()
    ranker = Ranker(
        run_dir=run_dir,
        model_path=model_path,
        model_identity=model_identity(config.model, planned.base_dir, source),
        accelerator=make_accelerator(config.mixed_precision),
        examples=examples,
        sample_seed=sample_seed,
        batch_size=batch_size,
        log=lambda line: click.echo(line, err=True),
    )
    frame = rank_sweep(pairs, ranker, methods)
    path = run_dir / RANK_FILE
    write_rank_file(frame, path)
    show_rank(frame, fmt)
    click.echo(f"rank: {path}", err=True)
    scores_csv = run_dir / "scores.csv"
    if scores_csv.is_file():
        from stilts.reports.scores import load_scores

        show_quality(frame, load_scores(scores_csv), split, fmt)
    else:
        click.echo(
            f"no results yet ({scores_csv}): once the sweep's targets ran, `stilts rank` again (or `stilts table "
            f"{scores_csv} --rank {path}`) measures these rankings against them",
            err=True,
        )


def _sweep_command(sweep_file: Path, output_dir: Path | None, overrides: tuple[str, ...]) -> str:
    """The `stilts sweep` command line that plans the same stages as this `stilts rank`."""
    import shlex

    parts = ["stilts", "sweep", str(sweep_file)]
    if output_dir is not None:
        parts += ["--output-dir", str(output_dir)]
    for override in overrides:
        parts += ["--set", override]
    return shlex.join(parts)


def show_rank(frame, fmt: str) -> None:
    from stilts.reports.ranking import score_grids
    from stilts.reports.render import render_grid

    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
        return
    for grid in score_grids(frame):
        click.echo(render_grid(grid, fmt))


def show_quality(rank_rows, scores, split: str | None, fmt: str) -> None:
    """How good each ranking in ``rank_rows`` (rank.csv's rows) is against the results in ``scores`` (a
    scores.csv, read), printed."""
    from stilts.reports.ranking import quality_csv, quality_grids, ranking_quality
    from stilts.reports.render import render_grid
    from stilts.reports.scores import check_one_run_per_seed, source_of

    check_one_run_per_seed(scores)
    report = ranking_quality(rank_rows, scores, split)
    if not report:
        on = f" on {split}" if split else ""
        click.echo(f"no results{on} in {source_of(scores)} for the ranked targets yet", err=True)
        return
    if fmt == "csv":
        click.echo(quality_csv(report), nl=False)
        for quality in report:
            for note in quality.notes:
                click.echo(f"note: {quality.target}: {note}", err=True)
        return
    for grid in quality_grids(report):
        click.echo(render_grid(grid, fmt))
