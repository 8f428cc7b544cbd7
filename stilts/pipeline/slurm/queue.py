"""What Slurm says about jobs: ``squeue`` for the jobs still queued or running, ``scontrol`` for the
final state and times of jobs that ended (while slurmctld still remembers them, MinJobAge), and
``scancel``. These commands work on every cluster, with or without accounting (sacct)."""

from __future__ import annotations

import getpass
import subprocess
from dataclasses import dataclass

from stilts.core.errors import BadInput

#: a pending job whose dependency failed, on a cluster that keeps such jobs queued
NEVER_RUNS = "DependencyNeverSatisfied"


@dataclass(frozen=True)
class QueuedJob:
    job_id: str
    state: str  # PENDING, RUNNING, COMPLETING, ...
    reason: str

    @property
    def will_run(self) -> bool:
        return self.reason != NEVER_RUNS


def queued_jobs() -> dict[str, QueuedJob]:
    """This user's jobs Slurm still has in its queue (array tasks one by one), by job id."""
    listing = _slurm(["squeue", "--noheader", "--array", "--user", getpass.getuser(), "--format", "%i|%T|%r"])
    jobs = {}
    for line in listing.splitlines():
        if line.count("|") == 2:
            job_id, state, reason = line.strip().split("|")
            jobs[job_id] = QueuedJob(job_id, state, reason)
    return jobs


def known_jobs() -> dict[str, dict[str, str]]:
    """``scontrol show job``'s fields (JobState, StartTime, EndTime, Reason, ...) of every job slurmctld
    still remembers, by job id (array tasks as ``123_4``), from one scontrol call."""
    try:
        text = _slurm(["scontrol", "--oneliner", "show", "job"])
    except RuntimeError:
        return {}
    jobs = {}
    for line in text.splitlines():
        fields = _fields(line)
        if "JobId" in fields:
            task = fields.get("ArrayTaskId", "")
            jobs[f"{fields['ArrayJobId']}_{task}" if task.isdigit() else fields["JobId"]] = fields
    return jobs


def _fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in text.split():
        key, _, value = item.partition("=")
        fields.setdefault(key, value)
    return fields


def cancel(job_ids: list[str]) -> None:
    if job_ids:
        _slurm(["scancel", *job_ids])


def _slurm(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        raise BadInput(f"{command[0]} is not on PATH (this run folder has Slurm jobs)") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(f"{' '.join(command[:2])}: {message[-1] if message else f'exit code {done.returncode}'}")
    return done.stdout
