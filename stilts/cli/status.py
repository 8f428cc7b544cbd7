"""`stilts status RUN_DIR`: which stages of a run are complete, running, queued, failed, ..."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--cancel", is_flag=True, help="Cancel the run's Slurm jobs that are queued or running.")
def status(run_dir: Path, cancel: bool) -> None:
    """The state of every stage of a run folder (local runs and Slurm jobs), in the order the runs
    planned them: complete (with its scores or best dev score), running, queued, failed (with the
    reason), blocked (a stage it needs failed), stopped (with the step it resumes from) or not started;
    the pipelines that have it, its Slurm job and how long it took. A complete stage that learned
    nothing (validation at chance, one answer for every example) shows its warning."""
    from stilts.core.errors import BadInput
    from stilts.pipeline.status import STATES, run_status

    if not run_dir.is_dir():
        raise BadInput(f"{run_dir}: no such run folder")
    stages = run_status(run_dir)
    if not stages:
        raise BadInput(f"{run_dir}: no stages here (not a run folder of stilts run or stilts sweep)")
    if cancel:
        from stilts.pipeline.slurm.queue import cancel as cancel_jobs

        live = [stage for stage in stages if stage.in_queue]
        cancel_jobs([stage.job_id for stage in live])
        click.echo(f"cancelled {len(live)} Slurm jobs of {run_dir}")
        stages = run_status(run_dir)
    counts = {state: sum(stage.state == state for stage in stages) for state in STATES}
    flagged = sum(bool(stage.warnings) for stage in stages)
    click.echo(
        f"{run_dir}: {len(stages)} stages: "
        + ", ".join(f"{n} {state}" for state, n in counts.items() if n)
        + (f" ({flagged} with warnings: learned nothing?)" if flagged else "")
    )
    # in the order the runs planned them, pipeline by pipeline: each stage after the one it starts from
    pipelines = [_pipelines(stage.pipelines) for stage in stages]
    width = max(12, *map(len, pipelines))
    # columns as wide as their longest entry (a kind such as translate_test, its folder name)
    kinds = max(12, *(len(stage.kind) for stage in stages))
    folders = max(24, *(len(stage.folder.name) for stage in stages))
    click.echo(
        f"  {'state':<12} {'kind':<{kinds}} {'stage':<{folders}} {'pipeline':<{width}} {'job':<10} {'took':<8} detail"
    )
    for stage, pipeline in zip(stages, pipelines):
        click.echo(
            f"  {stage.state:<12} {stage.kind:<{kinds}} {stage.folder.name:<{folders}} {pipeline:<{width}} "
            f"{stage.job_id or '-':<10} {_duration(stage.seconds):<8} {stage.detail}".rstrip()
        )


def _pipelines(names: list[str]) -> str:
    """One word: the first pipeline that has the stage, and how many others share it (``mnli-xnli-s1,+8``)."""
    if not names:
        return "-"
    return names[0] + (f",+{len(names) - 1}" if len(names) > 1 else "")


def _duration(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h04m``, ``1d03h``: one word."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
