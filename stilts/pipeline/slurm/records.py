"""The run folder's record of its Slurm jobs: ``<run_dir>/slurm/jobs.json``, stage fingerprint ->
the stage's latest job (id, log files, when it was submitted) and its earlier jobs (id, logs)."""

from __future__ import annotations

from pathlib import Path

from stilts.core.artifacts import locked, read_record, write_json_atomic
from stilts.core.errors import RunFailed

JOBS_FILE = Path("slurm") / "jobs.json"
LOGS_FOLDER = Path("logs") / "slurm"


#: what to do about a damaged record: without it, stilts cannot tell which stages have a job queued
REMEDY = (
    "it records this run folder's Slurm jobs: see `squeue --me` for those still queued, then move the file "
    "away (a stage whose job is still queued would be submitted again)"
)


def job_records(run_dir: Path) -> dict[str, dict]:
    path = run_dir / JOBS_FILE
    if not path.is_file():
        return {}
    records = read_record(path, REMEDY)
    for fingerprint, record in records.items():
        if not isinstance(record, dict) or "job_id" not in record:
            raise RunFailed(f"{path}: damaged (stage {fingerprint} has no job_id); {REMEDY}")
    return records


def record_jobs(run_dir: Path, jobs: dict[str, dict]) -> None:
    """Add the jobs just submitted (fingerprint -> record); a stage's earlier jobs are kept."""
    path = run_dir / JOBS_FILE
    with locked(path):
        records = job_records(run_dir)
        for fingerprint, record in jobs.items():
            earlier = records.get(fingerprint)
            if earlier:
                previous = {key: earlier[key] for key in ("job_id", "submitted", "stdout", "stderr")}
                record = dict(record, earlier=[*earlier.get("earlier", []), previous])
            records[fingerprint] = record
        write_json_atomic(path, records)
