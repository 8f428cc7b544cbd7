"""What a run folder holds besides its stage folders: the record of every stage planned into it.

`stilts run` and `stilts sweep` (local or submitted) record the stages they plan in
``<run_dir>/stages.json`` (fingerprint -> name, kind, folder, upstream, pipelines), so that
`stilts status` can list the stages that have not started yet, not only the folders on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from stilts.artifacts import locked, write_json_atomic
from stilts.stage_kinds import PlannedStage

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


def recorded_stages(run_dir: Path) -> dict[str, dict]:
    path = run_dir / STAGES_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))
