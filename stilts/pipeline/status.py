"""`stilts status`: the state of every stage of a run folder, local or on Slurm.

A stage is *complete* (``COMPLETE``), *running* (a process holds its lock, or its Slurm job runs),
*queued* (its job waits), *failed* (its last run raised: ``FAILED``; or its job ended without
completing it), *blocked* (a stage it needs failed), *stopped* (interrupted; its checkpoints let
the next run resume it) or *not started*. A complete stage that learned nothing (its validation never
left chance, or its predictions are one answer: its metrics.json ``warnings``) shows its first
warning as its detail. Slurm's view comes from squeue and scontrol
(`stilts.pipeline.slurm.queue`), for the jobs recorded in ``<run_dir>/slurm/jobs.json``.
"""

from __future__ import annotations

import datetime
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from stilts.core.artifacts import (
    COMPLETE,
    failure_of,
    is_complete,
    is_locked,
    lock_path,
    read_json,
    read_record,
    redo_stage,
)
from stilts.core.catalog import main_metrics
from stilts.core.errors import RunFailed
from stilts.core.names import QA_METRICS
from stilts.pipeline.run_folder import recorded_stages

STATES = ("complete", "running", "queued", "failed", "blocked", "stopped", "not started")
_STAGE_FOLDER = re.compile(r"^(?P<name>.+)-(?P<fingerprint>[0-9a-f]{8})$")
#: a checkpoint a stage resumes from: ``checkpoints/step-<N>/`` with its progress.json, written last
#: (stilts.training.checkpoints, which imports torch: status stays quick without it)
_CHECKPOINT = re.compile(r"^step-(\d+)$")


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
    #: the pipelines that have the stage (a shared stage: several)
    pipelines: list[str] = field(default_factory=list)
    #: seconds the run that completed it took, or that a running one has taken so far
    seconds: float | None = None
    #: a complete stage's warnings (its metrics.json): a validation that never left chance, predictions
    #: that are one answer for every example
    warnings: list[str] = field(default_factory=list)


def run_status(run_dir: Path) -> list[StageStatus]:
    """Every stage recorded in (or found in) ``run_dir``, with its state, in the order of the work
    (`_in_order_of_work`)."""
    stages = _known_stages(run_dir)
    unique = list({id(stage): stage for stage in stages.values()}.values())
    for stage in unique:
        _local_state(stage)
    records = _job_records(run_dir)
    if records:
        _slurm_states(stages, records)
    for stage in unique:  # after the others: a blocked stage is one whose upstream failed
        upstream = stages.get(stage.upstream or "")
        if stage.state in ("not started", "failed") and upstream is not None and _blocks(upstream, stages):
            stage.state, stage.detail = (
                "blocked",
                f"needs {upstream.kind} '{upstream.name}' ({upstream.fingerprint[:8]})",
            )
    return _in_order_of_work(stages)


def _in_order_of_work(stages: dict[str, StageStatus]) -> list[StageStatus]:
    """Each stage followed by the stages that start from it, those of one pipeline together (by the
    name of the first pipeline that has each); folders the record does not know come last."""
    after: dict[str, list[StageStatus]] = {}
    first: list[StageStatus] = []
    # a stilts 0.1 folder reused by a later plan is one stage under several fingerprints
    aliases: dict[int, list[str]] = {}
    for fingerprint, stage in stages.items():
        aliases.setdefault(id(stage), []).append(fingerprint)
    for stage in {id(each): each for each in stages.values()}.values():
        (after.setdefault(stage.upstream or "", []) if stage.upstream in stages else first).append(stage)

    def key(stage: StageStatus) -> tuple:
        return (not stage.pipelines, stage.pipelines[:1], stage.folder.name)

    ordered: list[StageStatus] = []
    waiting = sorted(first, key=key, reverse=True)
    while waiting:  # depth first: a stage, then what starts from it
        stage = waiting.pop()
        ordered.append(stage)
        children = [child for alias in aliases[id(stage)] for child in after.get(alias, [])]
        waiting += sorted({id(child): child for child in children}.values(), key=key, reverse=True)
    return ordered


def _blocks(stage: StageStatus, stages: dict[str, StageStatus]) -> bool:
    if stage.state in ("failed", "blocked"):
        return True
    upstream = stages.get(stage.upstream or "")
    return stage.state == "not started" and upstream is not None and _blocks(upstream, stages)


def _known_stages(run_dir: Path) -> dict[str, StageStatus]:
    """Fingerprint -> the stage's status. A folder made by stilts 0.1 that a later plan reused is
    recorded under its 0.1 fingerprint and the content fingerprints it was reused for: one stage."""
    stages: dict[str, StageStatus] = {}
    by_folder: dict[str, StageStatus] = {}
    for fingerprint, entry in recorded_stages(run_dir).items():
        if entry["folder"] not in by_folder:
            by_folder[entry["folder"]] = StageStatus(
                fingerprint,
                entry["name"],
                entry["kind"],
                run_dir / entry["folder"],
                entry.get("upstream"),
                pipelines=list(entry.get("pipelines", [])),
            )
        stages[fingerprint] = by_folder[entry["folder"]]
    recorded_folders = set(by_folder)
    for folder in sorted(run_dir.iterdir()) if run_dir.is_dir() else []:
        match = _STAGE_FOLDER.match(folder.name)
        if folder.is_dir() and match and folder.name not in recorded_folders:
            config = read_json(folder / "config.json")
            fingerprint = str(config.get("fingerprint", match["fingerprint"]))
            name, kind = str(config.get("name", match["name"])), str(config.get("kind", "?"))
            pipelines = [config["pipeline"]] if config.get("pipeline") else []
            stages[fingerprint] = StageStatus(fingerprint, name, kind, folder, None, pipelines=pipelines)
    return stages


def _local_state(stage: StageStatus) -> None:
    if is_complete(stage.folder):
        stage.state, stage.ended = "complete", _mtime(stage.folder / COMPLETE)
        stage.seconds = read_json(stage.folder / "config.json").get("seconds")
        try:
            metrics = read_record(stage.folder / "metrics.json", redo_stage(stage.folder))
        except RunFailed as damaged:  # said in the stage's row: the other stages' rows are still worth seeing
            stage.detail = str(damaged)
            return
        stage.detail = _result(metrics)
        stage.warnings = [str(line) for line in metrics.get("warnings", [])]
        if stage.warnings:  # a stage that learned nothing: its scores, then why they say little
            more = f" (and {len(stage.warnings) - 1} more in its metrics.json)" if len(stage.warnings) > 1 else ""
            stage.detail = "; ".join(filter(None, [stage.detail, f"warning: {stage.warnings[0]}{more}"]))
    elif is_locked(stage.folder):
        # the lock file is written when a process takes the stage, so its time is the run's start
        stage.state, stage.seconds = "running", time.time() - lock_path(stage.folder).stat().st_mtime
        step = _last_checkpoint(stage.folder)
        stage.detail = f"last checkpoint: step {step}" if step is not None else ""
    elif failure_of(stage.folder):
        stage.state, stage.detail = "failed", failure_of(stage.folder) or ""
    elif (stage.folder / "checkpoints").is_dir():
        step = _last_checkpoint(stage.folder)
        stage.state = "stopped"
        stage.detail = f"resumes from step {step} when run again" if step is not None else "starts again when run"


def _last_checkpoint(folder: Path) -> int | None:
    """The step of the last complete checkpoint of a stage that has not completed."""
    steps = [
        int(match[1])
        for path in (folder / "checkpoints").glob("step-*")
        if (match := _CHECKPOINT.match(path.name)) and (path / "progress.json").is_file()
    ]
    return max(steps, default=None)


def _result(metrics: dict) -> str:
    """What a complete stage found (its ``metrics``): an evaluation's language-averaged main scores per
    split, a training stage's best validation score and where it was."""
    if "average" in metrics:
        parts = []
        for split, values in metrics["average"].items():
            main = main_metrics(metrics.get("task", "")) or (
                QA_METRICS if set(QA_METRICS) <= set(values) else tuple(values)[:1]
            )
            parts.append(f"{split} " + "/".join(f"{values[m]:.1f}" for m in main if m in values))
        sets = f", mean of {metrics['sets']} sets of {metrics['k']} shots" if "set_scores" in metrics else ""
        return ", ".join(parts) + f" ({'/'.join(main)}, language average{sets})" if parts else ""
    if "seeds" in metrics and "averaged" in metrics:  # an `average` stage
        return f"average of {len(metrics['averaged'])} models (seeds {', '.join(map(str, metrics['seeds']))})"
    training = metrics.get("training", {})
    averaged = training.get("average")  # model_selection: average_last
    if averaged is not None:
        score = f", dev score {averaged['score']:.1f}" if averaged.get("score") is not None else ""
        steps = ", ".join(map(str, averaged["steps"]))
        return f"average of the weights at steps {steps} of {training.get('optimizer_steps')}{score}"
    if training.get("best_validation_score") is not None:
        return (
            f"best dev score {training['best_validation_score']:.1f} at step {training.get('best_step')} "
            f"of {training.get('optimizer_steps')}"
        )
    return ""


def _slurm_states(stages: dict[str, StageStatus], records: dict[str, dict]) -> None:
    from stilts.pipeline.slurm.queue import known_jobs, queued_jobs

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
        if stage.seconds is None and stage.started and (stage.ended or job is not None):
            stage.seconds = _between(stage.started, stage.ended)
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
    from stilts.pipeline.slurm.records import job_records

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


def _between(started: str, ended: str) -> float | None:
    """Seconds from ``started`` to ``ended`` (now where it is empty), both as `_slurm_time` gives them."""
    try:
        start = datetime.datetime.fromisoformat(started)
        end = datetime.datetime.fromisoformat(ended) if ended else datetime.datetime.now()
    except ValueError:
        return None
    return (end - start).total_seconds()


def _mtime(path: Path) -> str:
    return datetime.datetime.fromtimestamp(path.stat().st_mtime).isoformat(sep=" ", timespec="seconds")
