"""`stilts status`: the state of every stage of a run folder, local or on Slurm.

A stage is *complete* (``COMPLETE``), *running* (a process holds its lock, or its Slurm job runs),
*queued* (its job waits), *failed* (its last run raised: ``FAILED``; or its job ended without
completing it), *blocked* (a stage it needs failed), *stopped* (interrupted; its checkpoints let
the next run resume it) or *not started*. A complete stage that learned nothing (its validation never
left chance, or its predictions are one answer: its metrics.json ``warnings``) shows its first
warning as its detail. Slurm's view comes from squeue and scontrol
(`stilts.slurm.queue`), for the jobs recorded in ``<run_dir>/slurm/jobs.json``.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path

from stilts.artifacts import COMPLETE, failure_of, is_complete, is_locked, read_json
from stilts.run_folder import recorded_stages

STATES = ("complete", "running", "queued", "failed", "blocked", "stopped", "not started")
_STAGE_FOLDER = re.compile(r"^(?P<name>.+)-(?P<fingerprint>[0-9a-f]{8})$")


@dataclass
class StageStatus:
    fingerprint: str
    name: str
    kind: str
    folder: Path
    upstream: str | None
    state: str = "not started"
    job_id: str = ""
    started: str = ""
    ended: str = ""
    detail: str = ""
    #: whether Slurm still has the stage's job in its queue (pending or running)
    in_queue: bool = False
    #: a complete stage's warnings (its metrics.json): a validation that never left chance, predictions
    #: that are one answer for every example
    warnings: list[str] = field(default_factory=list)


def run_status(run_dir: Path) -> list[StageStatus]:
    """Every stage recorded in (or found in) ``run_dir``, with its state, in the record's order."""
    stages = _known_stages(run_dir)
    for stage in stages.values():
        _local_state(stage)
    records = _job_records(run_dir)
    if records:
        _slurm_states(stages, records)
    for stage in stages.values():  # after the others: a blocked stage is one whose upstream failed
        upstream = stages.get(stage.upstream or "")
        if stage.state in ("not started", "failed") and upstream is not None and _blocks(upstream, stages):
            stage.state, stage.detail = (
                "blocked",
                f"needs {upstream.kind} '{upstream.name}' ({upstream.fingerprint[:8]})",
            )
    return list(stages.values())


def _blocks(stage: StageStatus, stages: dict[str, StageStatus]) -> bool:
    if stage.state in ("failed", "blocked"):
        return True
    upstream = stages.get(stage.upstream or "")
    return stage.state == "not started" and upstream is not None and _blocks(upstream, stages)


def _known_stages(run_dir: Path) -> dict[str, StageStatus]:
    stages = {}
    for fingerprint, entry in recorded_stages(run_dir).items():
        stages[fingerprint] = StageStatus(
            fingerprint, entry["name"], entry["kind"], run_dir / entry["folder"], entry.get("upstream")
        )
    recorded_folders = {stage.folder.name for stage in stages.values()}
    for folder in sorted(run_dir.iterdir()) if run_dir.is_dir() else []:
        match = _STAGE_FOLDER.match(folder.name)
        if folder.is_dir() and match and folder.name not in recorded_folders:
            config = read_json(folder / "config.json")
            fingerprint = str(config.get("fingerprint", match["fingerprint"]))
            name, kind = str(config.get("name", match["name"])), str(config.get("kind", "?"))
            stages[fingerprint] = StageStatus(fingerprint, name, kind, folder, None)
    return stages


def _local_state(stage: StageStatus) -> None:
    if is_complete(stage.folder):
        stage.state, stage.ended = "complete", _mtime(stage.folder / COMPLETE)
        stage.warnings = [str(line) for line in read_json(stage.folder / "metrics.json").get("warnings", [])]
        if stage.warnings:
            more = f" (and {len(stage.warnings) - 1} more in its metrics.json)" if len(stage.warnings) > 1 else ""
            stage.detail = f"warning: {stage.warnings[0]}{more}"
    elif is_locked(stage.folder):
        stage.state = "running"
    elif failure_of(stage.folder):
        stage.state, stage.detail = "failed", failure_of(stage.folder) or ""
    elif (stage.folder / "checkpoints").is_dir():
        stage.state, stage.detail = "stopped", "resumes from its checkpoint when run again"


def _slurm_states(stages: dict[str, StageStatus], records: dict[str, dict]) -> None:
    from stilts.slurm.queue import known_jobs, queued_jobs

    queue, remembered = queued_jobs(), known_jobs()
    for fingerprint, record in records.items():
        stage = stages.get(fingerprint)
        if stage is None:
            continue
        stage.job_id = record["job_id"]
        job = queue.get(record["job_id"])
        stage.in_queue = job is not None
        details = remembered.get(record["job_id"], {})
        if job is None or job.state != "PENDING":  # a pending job's times are Slurm's forecasts
            stage.started = _slurm_time(details.get("StartTime"))
        if job is None:
            stage.ended = _slurm_time(details.get("EndTime")) or stage.ended
        if stage.state == "complete":
            continue
        if job is not None and job.state == "PENDING":
            stage.state = "queued" if job.will_run else "blocked"
            stage.detail = job.reason
        elif job is not None:
            stage.state, stage.detail = "running", job.state.lower() if job.state != "RUNNING" else ""
        else:
            final = details.get("JobState", "ended")
            reason = failure_of(stage.folder) or _last_line(Path(record["stderr"]))
            stage.state = "failed"
            stage.detail = f"job {final.lower()}" + (f": {reason}" if reason else "")


def _job_records(run_dir: Path) -> dict[str, dict]:
    from stilts.slurm.records import job_records

    return job_records(run_dir)


def _last_line(path: Path) -> str:
    """The last line of a job's log that says what went wrong (`error: ...`), else its last line."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or [""])[-1][:300]


def _slurm_time(value: str | None) -> str:
    return "" if not value or value in ("Unknown", "None") else value.replace("T", " ")


def _mtime(path: Path) -> str:
    return datetime.datetime.fromtimestamp(path.stat().st_mtime).isoformat(sep=" ", timespec="seconds")
