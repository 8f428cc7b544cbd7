"""What the commands that plan a pipeline or sweep file share (`run`, `sweep`, `prepare`): their options,
the run folder, planning a file, and the checks before the first stage."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from stilts.core.errors import BadInput
from stilts.pipeline.config import load_pipeline, override_from_command_line, read_yaml_mapping
from stilts.pipeline.stage_kinds import STAGE_KINDS

OUTPUT_DIR = click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder (default: runs/<name>). Stages and scores.csv go here.",
)
OVERRIDES = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    callback=lambda _context, _parameter, overrides: tuple(map(override_from_command_line, overrides)),
    help="Override a YAML field, e.g. --set stages.target.epochs=1 (repeatable); a model or data path "
    "given so is relative to the working directory.",
)
DRY_RUN = click.option(
    "--dry-run",
    is_flag=True,
    help="Read every split the stages to run need (as every run "
    "does before it starts), print the resolved stages and "
    "their fingerprints; train nothing.",
)
DETECT_ANOMALY = click.option(
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


@dataclass
class PlannedFile:
    """A pipeline or sweep file, planned: its config (a pipeline's or a sweep's), the folder its relative
    paths start from, the run folder, and (pipeline, stages, data sources) of each of its pipelines."""

    config: Any
    base_dir: Path
    run_dir: Path
    plans: list[tuple[Any, list, dict]]


def is_sweep_file(file: Path) -> bool:
    """Whether ``file`` is a sweep (it has a ``matrix``) rather than one pipeline."""
    return "matrix" in read_yaml_mapping(file)


def plan_pipeline_file(file: Path, overrides: tuple[str, ...], output_dir: Path | None) -> PlannedFile:
    from stilts.pipeline.engine import plan_pipeline

    pipeline, base_dir = load_pipeline(file, overrides)
    run_dir = run_folder(output_dir, pipeline.name)
    stages, data_sources = plan_pipeline(pipeline, base_dir, run_dir, str(file))
    return PlannedFile(pipeline, base_dir, run_dir, [(pipeline, stages, data_sources)])


def plan_sweep_file(
    file: Path, overrides: tuple[str, ...], output_dir: Path | None, slurm: dict | None = None
) -> PlannedFile:
    """Every pipeline of the sweep ``file`` planned into one run folder (``slurm``: settings given on the
    command line)."""
    from stilts.pipeline.engine import plan_pipeline
    from stilts.pipeline.sweep import expand, load_sweep

    config, base_dir = load_sweep(file, overrides, slurm or {})
    run_dir = run_folder(output_dir, config.name)
    plans = [
        (pipeline, *plan_pipeline(pipeline, base_dir, run_dir, f"{file}: {pipeline.name}"))
        for pipeline in expand(config, str(file))
    ]
    return PlannedFile(config, base_dir, run_dir, plans)


def check_and_record(plans, model_path: str, run_dir: Path, dry_run: bool, *, here: bool = True) -> None:
    """What `run` and `sweep` do before the first stage of ``plans`` ((pipeline, stages, data
    sources)): read every split the stages to run need, let each stage check the model can take its
    settings, check the pipelines' attention kernels against the model and (``here``: the stages run
    on this machine) this machine, check the scores.csv they will write, and (not for a dry run)
    record the stages in the run folder for `stilts status`."""
    from stilts.pipeline.preflight import check_attention, check_data, check_models, check_scores_file
    from stilts.pipeline.run_folder import record_stages

    stages_and_sources = [(stages, sources) for _, stages, sources in plans]
    check_data(stages_and_sources, log=logon_main_process)
    check_models(stages_and_sources, model_path, dry_run=dry_run)
    check_attention([(pipeline, stages) for pipeline, stages, _ in plans], model_path, here=here)
    # after the checks of the input: bad input leaves no run folder (the scores.csv lock would make one)
    check_scores_file(stages_and_sources, run_dir, dry_run)
    if not dry_run and on_main_process():
        record_stages(run_dir, [(pipeline.name, stages) for pipeline, stages, _ in plans])


def on_main_process() -> bool:
    """Before the Accelerator exists: whether this is rank 0 of `accelerate launch` (or alone)."""
    return os.environ.get("RANK", "0") == "0"


def logon_main_process(line: str) -> None:
    """Log before the Accelerator exists: under `accelerate launch`, only rank 0 prints."""
    if on_main_process():
        click.echo(line)


def print_stages(stages, *, with_settings: bool) -> None:
    seed = stages[-1].settings.get("seed") if stages else None  # the pipeline's: its last stage's
    for stage in stages:
        status = "complete (will be reused)" if stage.complete else "to run"
        if stage.settings.get("seed", seed) != seed:  # its own, or another seed's run an average needs
            status += f", seed {stage.settings['seed']}"
        if stage.complete and stage.folder.name != f"{stage.name}-{stage.fingerprint[:8]}":
            status = f"complete (will be reused: {stage.folder.name}, made by stilts 0.1 from the same data)"
        # named as messages about it name it, counted from 0 (--set stages.0.epochs=1 addresses it so too)
        click.echo(f"  stages[{stage.index}] {stage.kind:<12} {stage.name:<14} {stage.fingerprint[:8]}  {status}")
        if with_settings:
            # where to read on: the stage kind's module (its YAML fields and plan) and the runner's
            kind = STAGE_KINDS.get(stage.kind)
            runner = type(kind.runner)
            click.echo(
                f"        code: {kind.plan.__module__} (plans), {runner.__module__}.{runner.__qualname__} (runs)"
            )
            for key in sorted(stage.settings):
                click.echo(f"        {key}: {stage.settings[key]}")
