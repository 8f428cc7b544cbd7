"""The run folder's record of its Slurm jobs: ``<run_dir>/slurm/jobs.json``, stage fingerprint ->
the stage's latest job (id, log files, when it was submitted) and its earlier jobs (id, logs)."""

from __future__ import annotations

import json
from pathlib import Path

from stilts.artifacts import locked, write_json_atomic

JOBS_FILE = Path("slurm") / "jobs.json"
LOGS_FOLDER = Path("logs") / "slurm"


def job_records(run_dir: Path) -> dict[str, dict]:
    path = run_dir / JOBS_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


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
