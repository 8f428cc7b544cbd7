"""What a run folder holds besides its stage folders: the record of every stage planned into it.

`stilts run` and `stilts sweep` (local or submitted) record the stages they plan in
``<run_dir>/stages.json`` (fingerprint -> name, kind, folder, upstream, pipelines), so that
`stilts status` can list the stages that have not started yet, not only the folders on disk.
"""

from __future__ import annotations

from pathlib import Path

from stilts.core.artifacts import locked, read_record, write_json_atomic
from stilts.core.errors import RunFailed
from stilts.pipeline.stage_kinds import PlannedStage

STAGES_FILE = "stages.json"


def record_stages(run_dir: Path, plans: list[tuple[str, list[PlannedStage]]]) -> None:
    """Add (pipeline name, its planned stages) to the run folder's record."""
    path = run_dir / STAGES_FILE
    with locked(path):
        record = recorded_stages(run_dir)
        for pipeline_name, stages in plans:
            for stage in stages:
                entry = record.setdefault(
                    stage.fingerprint,
                    {
                        "name": stage.name,
                        "kind": stage.kind,
                        "folder": stage.folder.name,
                        "upstream": stage.upstream.fingerprint if stage.upstream else None,
                        "pipelines": [],
                    },
                )
                if pipeline_name not in entry["pipelines"]:
                    entry["pipelines"] = sorted([*entry["pipelines"], pipeline_name])
        write_json_atomic(path, record)


#: what to do about a damaged stages.json: it is only a record of what the runs planned
REWRITE_RECORD = (
    "delete it: `stilts status` then lists the stage folders it finds, and the next `stilts run` or "
    "`stilts sweep` into this folder records its stages again"
)


def recorded_stages(run_dir: Path) -> dict[str, dict]:
    path = run_dir / STAGES_FILE
    if not path.is_file():
        return {}
    record = read_record(path, REWRITE_RECORD)
    for entry in record.values():
        if not isinstance(entry, dict) or not {"name", "kind", "folder"} <= entry.keys():
            raise RunFailed(f"{path}: damaged (a stage without its name, kind or folder); {REWRITE_RECORD}")
    return record
