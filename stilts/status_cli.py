"""`stilts status RUN_DIR`: which stages of a run are complete, running, queued, failed, ..."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--cancel", is_flag=True, help="Cancel the run's Slurm jobs that are queued or running.")
def status(run_dir: Path, cancel: bool) -> None:
    """The state of every stage of a run folder (local runs and Slurm jobs): complete, running,
    queued, failed (with the reason), blocked (a stage it needs failed), stopped (resumable) or not
    started, with job ids and times. A complete stage that learned nothing (validation at chance,
    one answer for every example) shows its warning."""
    from stilts.errors import BadInput
    from stilts.run_status import STATES, run_status

    if not run_dir.is_dir():
        raise BadInput(f"{run_dir}: no such run folder")
    stages = run_status(run_dir)
    if not stages:
        raise BadInput(f"{run_dir}: no stages here (not a run folder of stilts run or stilts sweep)")
    if cancel:
        from stilts.slurm.queue import cancel as cancel_jobs

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
    header = f"  {'state':<12} {'kind':<12} {'stage':<24} {'job':<10} {'started':<20} {'ended':<20} detail"
    click.echo(header)
    order = {state: index for index, state in enumerate(STATES)}
    for stage in sorted(stages, key=lambda s: (order[s.state], s.started or "~", s.folder.name)):
        click.echo(
            f"  {stage.state:<12} {stage.kind:<12} {stage.folder.name:<24} {stage.job_id or '-':<10} "
            f"{stage.started or '-':<20} {stage.ended or '-':<20} {stage.detail}".rstrip()
        )
