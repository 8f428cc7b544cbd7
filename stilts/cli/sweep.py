"""`stilts sweep`: a grid of pipelines sharing one run folder, run here one by one, in worker processes
(``--jobs``) or submitted to Slurm (``--submit slurm``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from stilts.cli.common import (
    DETECT_ANOMALY,
    DRY_RUN,
    OUTPUT_DIR,
    OVERRIDES,
    check_and_record,
    plan_sweep_file,
    print_stages,
)
from stilts.core.errors import BadInput
from stilts.pipeline.stage_kinds import STAGE_KINDS

_SLURM_OPTIONS = [
    click.option("--partition", help="Slurm partition of the jobs (slurm.partition)."),
    click.option("--account", help="Slurm account to charge (slurm.account)."),
    click.option("--qos", help="Slurm quality of service (slurm.qos)."),
    click.option("--time", help="Time limit of each job, e.g. 12:00:00 or 2-00:00:00 (slurm.time; default 24:00:00)."),
    click.option(
        "--gpus-per-job", type=int, help="GPUs of each training job, 0 for CPU jobs (slurm.gpus_per_job; default 1)."
    ),
    click.option("--nodes-per-job", type=int, help="Nodes of each training job (slurm.nodes_per_job; default 1)."),
    click.option("--cpus-per-job", type=int, help="CPU cores on each node of a job (slurm.cpus_per_job)."),
    click.option("--mem", help="Memory on each node of a job, e.g. 64G (slurm.mem)."),
]


def _with_slurm_options(command):
    for option in reversed(_SLURM_OPTIONS):
        command = option(command)
    return command


@click.command()
@click.argument("sweep_file", type=click.Path(dir_okay=False, path_type=Path))
@OUTPUT_DIR
@OVERRIDES
@DRY_RUN
@DETECT_ANOMALY
@click.option(
    "--jobs",
    type=int,
    default=1,
    show_default=True,
    metavar="N",
    help="Pipelines to run at once, each in its own process: one GPU each (round-robin over "
    "the visible GPUs), or on CPU an Nth of the cores each. Logs go to <run dir>/logs/.",
)
@click.option(
    "--submit",
    type=click.Choice(["slurm"]),
    default=None,
    help="Submit the sweep to Slurm instead of running it here: one job per unique stage, each "
    "after the job of the stage it starts from; returns at once (watch with `stilts status`). "
    "Complete stages and stages whose job is queued or running are not submitted again.",
)
@_with_slurm_options
@click.option(
    "--stage",
    "only_stage",
    metavar="FINGERPRINT",
    # what each Slurm job runs (stilts/pipeline/slurm): internal, so `stilts sweep --help` leaves it out
    hidden=True,
    help="Run one stage (its fingerprint or the first 8 characters of it) and any stage it needs "
    "that is not complete, for every pipeline that has it: what each Slurm job runs.",
)
def sweep(
    sweep_file: Path,
    output_dir: Path | None,
    overrides: tuple[str, ...],
    dry_run: bool,
    detect_anomaly: bool,
    jobs: int,
    submit: str | None,
    only_stage: str | None,
    **slurm_options,
) -> None:
    """Run (or resume) every pipeline of a sweep; stages shared by fingerprint run once.

    A failed pipeline does not stop the others; the summary lists it and the exit code is 1.
    """
    from stilts.pipeline.engine import resolve_model_reference
    from stilts.pipeline.sweep import only_stage_plans

    if jobs < 1:
        raise BadInput(f"--jobs: {jobs} is not a number of processes (1 or more)")
    if jobs > 1 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise BadInput(
            "--jobs starts its own processes: run `stilts sweep --jobs` without accelerate launch or torchrun"
        )
    slurm = {field: value for field, value in slurm_options.items() if value is not None}
    if slurm and not submit:
        raise BadInput(f"--{next(iter(slurm)).replace('_', '-')}: a Slurm setting, for --submit slurm only")
    if submit and (jobs > 1 or only_stage):
        other = "--jobs" if jobs > 1 else "--stage"
        raise BadInput(f"--submit: submits every stage as its own job; it does not go with {other}")
    planned = plan_sweep_file(sweep_file, overrides, output_dir, slurm)
    config, base_dir, run_dir, plans = planned.config, planned.base_dir, planned.run_dir, planned.plans
    if only_stage:
        plans = only_stage_plans(plans, only_stage, str(sweep_file))
    model_path = resolve_model_reference(config.model, base_dir, str(sweep_file), install=not dry_run)
    check_and_record(plans, model_path, run_dir, dry_run, here=not submit)  # a Slurm job checks its node
    unique = {stage.fingerprint: stage for _, stages, _ in plans for stage in stages}
    done = sum(stage.complete for stage in unique.values())
    click.echo(
        f"sweep {config.name}: {len(plans)} pipelines, {len(unique)} distinct stages "
        f"({done} complete, {len(unique) - done} to run), run dir {run_dir}"
    )
    if submit:
        from stilts.pipeline.slurm.submit import submit_sweep

        submit_sweep(
            config, [(p.name, stages) for p, stages, _ in plans], sweep_file.resolve(), overrides, run_dir, dry_run
        )
        return
    if dry_run:
        for kind in STAGE_KINDS.names():
            of_kind = [stage for stage in unique.values() if stage.kind == kind]
            click.echo(f"  {kind}: {len(of_kind)} stages, {sum(s.complete for s in of_kind)} complete")
        for pipeline, stages, _ in plans:
            click.echo(pipeline.name)
            print_stages(stages, with_settings=False)
        return
    if jobs > 1:
        from stilts.pipeline.jobs import SweepRequest, run_parallel

        request = SweepRequest(
            sweep_file=sweep_file.resolve(),
            overrides=overrides,
            run_dir=run_dir,
            model_path=model_path,
            detect_anomaly=detect_anomaly,
        )
        outcomes = run_parallel(request, plans, min(jobs, len(plans)))
    else:
        from stilts.pipeline.local import run_one_by_one

        outcomes = run_one_by_one(plans, model_path, run_dir, detect_anomaly)
    counts = {status: sum(o[1] == status for o in outcomes) for status in ("done", "reused", "failed")}
    click.echo(
        f"sweep {config.name}: {counts['done']} done, {counts['reused']} reused (already complete), "
        f"{counts['failed']} failed; scores: {run_dir / 'scores.csv'}"
    )
    if not only_stage:  # a Slurm job runs one stage; the table is the whole sweep's
        _show_table(config, run_dir / "scores.csv")
    for name, status, reason in outcomes:
        if status == "failed":
            click.echo(f"  failed: {name}: {reason}", err=True)
    if counts["failed"]:
        raise SystemExit(1)


def _show_table(config, scores_csv: Path) -> None:
    """The sweep's transfer table as `stilts table` prints it, then the command for the deltas, their
    intervals and the heatmap. A sweep of variants is tabulated by pipeline: by intermediate task its
    variants' runs of one seed would be refused."""
    from stilts.cli.table import table
    from stilts.core.names import BASELINE, configuration_name

    if not scores_csv.is_file():
        return
    shown = os.path.relpath(scores_csv) if scores_csv.is_relative_to(Path.cwd()) else str(scores_csv)
    matrix = config.matrix
    options = []
    if matrix.variant:
        first = configuration_name(matrix.intermediate[0], matrix.mlm[0])
        options = ["--by", "pipeline", "--baseline", f"{first}-{next(iter(matrix.variant))}"]
    elif BASELINE not in matrix.intermediate and False in matrix.mlm:
        options = ["--baseline", matrix.intermediate[0]]
    click.echo("")
    try:
        table.main([str(scores_csv), *options], prog_name="stilts table", standalone_mode=False)
    except BadInput as error:  # the runs are done whatever the table makes of them
        click.echo(f"table: {error}", err=True)
        return
    plot = f"{config.name}.png"
    # intervals of k-shot rows (matrix.shots) are not computed: their cells show the spread over the sets
    intervals = [] if matrix.shots else ["--ci", "95"]
    click.echo(f"next: stilts table {shown} {' '.join([*options, '--delta', *intervals, '--plot', plot])}")
