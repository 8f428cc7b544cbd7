"""`stilts run` (one pipeline) and `stilts sweep` (a grid of pipelines sharing one run folder)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from stilts.core.errors import BadInput
from stilts.pipeline.config import load_pipeline, override_from_command_line
from stilts.pipeline.stage_kinds import STAGE_KINDS

_OUTPUT_DIR = click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder (default: runs/<name>). Stages and scores.csv go here.",
)
_OVERRIDES = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    callback=lambda _context, _parameter, overrides: tuple(map(override_from_command_line, overrides)),
    help="Override a YAML field, e.g. --set stages.target.epochs=1 (repeatable); a model or data path "
    "given so is relative to the working directory.",
)
_DRY_RUN = click.option(
    "--dry-run",
    is_flag=True,
    help="Read every split the stages to run need (as every run "
    "does before it starts), print the resolved stages and "
    "their fingerprints; train nothing.",
)
_DETECT_ANOMALY = click.option(
    "--detect-anomaly",
    is_flag=True,
    help="Debug NaN/inf losses: autograd names the operation that made them (torch.autograd.set_detect_anomaly; slow).",
)


def run_folder(output_dir: Path | None, name: str) -> Path:
    """The run folder, ``--output-dir`` or runs/<name>, absolute. A file where the path needs a folder is
    bad input, found now: the first stage to make its folder would fail on it after the checks (and a
    dry run, which makes none, would pass)."""
    run_dir = (output_dir or Path("runs") / name).resolve()
    # the nearest of the path's folders that is there must be a folder; those below it are made
    there = next(path for path in (run_dir, *run_dir.parents) if path.exists())
    if not there.is_dir():
        named = f"--output-dir {output_dir}" if output_dir else f"the run folder {run_dir} (give another: --output-dir)"
        raise BadInput(f"{named}: {there} is a file, not a folder")
    return run_dir


@click.command()
@click.argument("pipeline_file", type=click.Path(dir_okay=False, path_type=Path))
@_OUTPUT_DIR
@_OVERRIDES
@_DRY_RUN
@_DETECT_ANOMALY
def run(
    pipeline_file: Path, output_dir: Path | None, overrides: tuple[str, ...], dry_run: bool, detect_anomaly: bool
) -> None:
    """Run a pipeline: intermediate stage(s), target fine-tuning, zero-shot evaluation.

    Completed stages (same fingerprint, COMPLETE present) are reused, not rerun.
    """
    from stilts.pipeline.engine import plan_pipeline, resolve_model_reference

    pipeline, base_dir = load_pipeline(pipeline_file, overrides)
    run_dir = run_folder(output_dir, pipeline.name)
    stages, data_sources = plan_pipeline(pipeline, base_dir, run_dir, str(pipeline_file))
    model_path = resolve_model_reference(pipeline.model, base_dir, str(pipeline_file), install=not dry_run)
    _check_and_record([(pipeline, stages, data_sources)], model_path, run_dir, dry_run)
    if dry_run:
        click.echo(f"pipeline {pipeline.name}  model {pipeline.model}  seed {pipeline.seed}  run dir {run_dir}")
        _print_stages(stages, with_settings=True)
        return
    from stilts.pipeline.engine import run_stages
    from stilts.pipeline.local import evaluation_metrics, make_context, per_language_table

    context = make_context(pipeline, model_path, data_sources, run_dir, detect_anomaly)
    context.log(
        f"pipeline {pipeline.name}: {len(stages)} stages, device {context.accelerator.device}, run dir {run_dir}"
    )
    run_stages(stages, context)
    for metrics in evaluation_metrics(stages):
        context.log(per_language_table(metrics))
    context.log(f"scores: {context.scores_path}")


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
@_OUTPUT_DIR
@_OVERRIDES
@_DRY_RUN
@_DETECT_ANOMALY
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
    from stilts.pipeline.engine import plan_pipeline, resolve_model_reference
    from stilts.pipeline.sweep import expand, load_sweep, only_stage_plans

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
    config, base_dir = load_sweep(sweep_file, overrides, slurm)
    run_dir = run_folder(output_dir, config.name)
    pipelines = expand(config, str(sweep_file))
    plans = [
        (pipeline, *plan_pipeline(pipeline, base_dir, run_dir, f"{sweep_file}: {pipeline.name}"))
        for pipeline in pipelines
    ]
    if only_stage:
        plans = only_stage_plans(plans, only_stage, str(sweep_file))
    model_path = resolve_model_reference(config.model, base_dir, str(sweep_file), install=not dry_run)
    _check_and_record(plans, model_path, run_dir, dry_run)
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
            _print_stages(stages, with_settings=False)
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
    click.echo(f"next: stilts table {shown} {' '.join([*options, '--delta', '--ci', '95', '--plot', plot])}")


def _check_and_record(plans, model_path: str, run_dir: Path, dry_run: bool) -> None:
    """What `run` and `sweep` do before the first stage of ``plans`` ((pipeline, stages, data
    sources)): read every split the stages to run need, let each stage check the model can take its
    settings, check the scores.csv they will write, and (not for a dry run) record the stages in the
    run folder for `stilts status`."""
    from stilts.pipeline.preflight import check_data, check_models, check_scores_file
    from stilts.pipeline.run_folder import record_stages

    stages_and_sources = [(stages, sources) for _, stages, sources in plans]
    check_data(stages_and_sources, log=_log_on_main_process)
    check_models(stages_and_sources, model_path, dry_run=dry_run)
    # after the checks of the input: bad input leaves no run folder (the scores.csv lock would make one)
    check_scores_file(stages_and_sources, run_dir, dry_run)
    if not dry_run and _on_main_process():
        record_stages(run_dir, [(pipeline.name, stages) for pipeline, stages, _ in plans])


def _on_main_process() -> bool:
    """Before the Accelerator exists: whether this is rank 0 of `accelerate launch` (or alone)."""
    return os.environ.get("RANK", "0") == "0"


def _log_on_main_process(line: str) -> None:
    """Log before the Accelerator exists: under `accelerate launch`, only rank 0 prints."""
    if _on_main_process():
        click.echo(line)


def _print_stages(stages, *, with_settings: bool) -> None:
    for stage in stages:
        status = "complete (will be reused)" if stage.complete else "to run"
        if stage.complete and stage.folder.name != f"{stage.name}-{stage.fingerprint[:8]}":
            status = f"complete (will be reused: {stage.folder.name}, made by stilts 0.1 from the same data)"
        # named as messages about it name it, counted from 0 (--set stages.0.epochs=1 addresses it so too)
        click.echo(f"  stages[{stage.index}] {stage.kind:<12} {stage.name:<14} {stage.fingerprint[:8]}  {status}")
        if with_settings:
            for key in sorted(stage.settings):
                click.echo(f"        {key}: {stage.settings[key]}")
