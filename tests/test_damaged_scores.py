"""A damaged scores.csv, or a lock file beside it that is a symbolic link: `stilts table` reading it, and
`stilts run`/`sweep` that would rewrite it with their rows. Each case gives its exit code (2: bad input
to `stilts table`; 1: a run folder a run cannot keep whole), one line on stderr naming the file and the
line, no traceback, and leaves every file as it was: no stage trained, scores.csv not rewritten, the file
a link points to not emptied.

Each case is (id, files to write into the run folder, command, exit code, what the line must contain).
The run folder is the working directory (``--output-dir .``), so that `stilts table scores.csv` and a run
read the same file; it also holds the tiny pipeline ``p.yaml``, sweep ``s.yaml``, data and model.
"""

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import write_pipeline
from helpers import run_cli

from stilts.core.errors import RunFailed
from stilts.reports.scores_file import SCORE_COLUMNS
from stilts.testing import write_tiny_nli

HEADER = ",".join(SCORE_COLUMNS) + "\n"
DE = "p,none,false,xnli,1,dev,de,accuracy,50.0,evaluate-11111111\n"
FR = "p,none,false,xnli,1,dev,fr,accuracy,40.0,evaluate-11111111\n"
GOOD = HEADER + DE + FR
KEY = "pipeline=p, intermediate=none, mlm=false, target=xnli, seed=1, split=dev, language=de, metric=accuracy"
SHORT_ROW = GOOD + "p,none,false,xnli\n"
NO_VALUE_COLUMN = HEADER.replace(",value", "") + DE.replace(",50.0", "")
VALUE_NONE = HEADER + DE.replace("50.0", "None")
NOT_UTF8 = (GOOD + "p,none,false,xnli,1,dev,tr,accuracy,40.0,evaluate-11111111\n").encode().replace(b",tr,", b",t\xfc,")
#: a symbolic link to a file outside the run folder (its content must stay)
LINK_OUTSIDE = object()

TABLE = ["table", "scores.csv"]
RUN = ["run", "p.yaml", "--output-dir", "."]

CASES = [
    # --- stilts table: a number it would have to pick, or could not read ---
    (
        "table-conflicting-values",
        {"scores.csv": GOOD + DE.replace("50.0", "55.0")},
        TABLE,
        2,
        f"scores.csv: lines 2 and 4 score the same ({KEY}) but differ in value ('50.0', '55.0'): a table would have to "
        "pick one; delete the stale line",
    ),
    (
        "table-same-value-two-stages",
        {"scores.csv": GOOD + DE.replace("11111111", "22222222")},
        TABLE,
        2,
        f"scores.csv: lines 2 and 4 score the same ({KEY}) but differ in stage ('evaluate-11111111', "
        "'evaluate-22222222')",
    ),
    (
        "table-value-column-twice",
        {"scores.csv": HEADER.replace("\n", ",value\n") + DE.replace("\n", ",70.0\n")},
        TABLE,
        2,
        "scores.csv: line 1: column 'value' appears twice",
    ),
    (
        "table-no-value-column",
        {"scores.csv": NO_VALUE_COLUMN},
        TABLE,
        2,
        "scores.csv: line 1: missing column(s): value",
    ),
    ("table-short-row", {"scores.csv": SHORT_ROW}, TABLE, 2, "scores.csv: line 4: expected 10 fields, got 4"),
    ("table-value-none", {"scores.csv": VALUE_NONE}, TABLE, 2, "scores.csv: line 2: 'value' is not a number: 'None'"),
    ("table-not-utf8", {"scores.csv": NOT_UTF8}, TABLE, 2, "scores.csv: line 4: not UTF-8 text"),
    # --- stilts run / sweep: the file they would rewrite, refused before any stage trains ---
    ("run-short-row", {"scores.csv": SHORT_ROW}, RUN, 1, "scores.csv: line 4: expected 10 fields, got 4"),
    ("run-no-value-column", {"scores.csv": NO_VALUE_COLUMN}, RUN, 1, "scores.csv: line 1: missing column(s): value"),
    ("run-value-none", {"scores.csv": VALUE_NONE}, RUN, 1, "scores.csv: line 2: 'value' is not a number: 'None'"),
    ("run-not-utf8", {"scores.csv": NOT_UTF8}, RUN, 1, "scores.csv: line 4: not UTF-8 text"),
    ("run-dry-run-short-row", {"scores.csv": SHORT_ROW}, [*RUN, "--dry-run"], 1, "scores.csv: line 4: expected 10"),
    ("sweep-short-row", {"scores.csv": SHORT_ROW}, ["sweep", "s.yaml", "--output-dir", "."], 1, "scores.csv: line 4"),
    (
        "run-scores-lock-is-a-link",
        {"scores.csv": GOOD, ".scores.csv.lock": LINK_OUTSIDE},
        RUN,
        1,
        ".scores.csv.lock: a symbolic link where stilts keeps a lock file; delete the link",
    ),
]


@pytest.fixture
def workspace(tmp_path, tiny_model, monkeypatch):
    folder = tmp_path / "run"
    write_tiny_nli(folder / "data", train=16, dev=4)
    shutil.copytree(tiny_model, folder / "model")
    stage = {"batch_size": 8, "max_steps": 1, "validate_every": 1}
    data = {"mnli": "data/mnli", "xnli": "data/xnli"}
    write_pipeline(
        folder / "p.yaml", "model", data, name="p", stage_settings={"evaluate": {"max_examples": 4}}, **stage
    )
    sweep = {
        "name": "s",
        "model": "model",
        "data": data,
        "stages": {"intermediate": stage, "target": stage, "evaluate": {"max_examples": 4}},
        "matrix": {"intermediate": ["mnli"], "target": ["xnli"]},
    }
    (folder / "s.yaml").write_text(yaml.safe_dump(sweep))
    (tmp_path / "outside.txt").write_text("not stilts' to empty\n")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("STILTS_CACHE", str(tmp_path / "cache"))
    return folder


def _write(folder, files) -> dict:
    """Write ``files`` into ``folder``; returns every file's bytes, to compare afterwards."""
    for relative, content in files.items():
        path = folder / relative
        if content is LINK_OUTSIDE:
            path.symlink_to(folder.parent / "outside.txt")
        else:
            path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return {path: path.read_bytes() for path in [*folder.glob("*.csv*"), folder.parent / "outside.txt"]}


@pytest.mark.parametrize("name, files, args, code, expected", CASES, ids=[case[0] for case in CASES])
def test_damaged_scores(workspace, capsys, name, files, args, code, expected):
    before = _write(workspace, files)
    exit_code, _, stderr = run_cli(args, capsys)
    assert exit_code == code, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], stderr
    assert "Traceback" not in stderr
    # refused before any stage ran; nothing rewritten, nothing emptied
    assert not list(workspace.glob("*/COMPLETE"))
    assert {path: path.read_bytes() for path in before} == before


def test_a_line_repeated_as_it_is_counts_once(workspace, capsys):
    _write(workspace, {"scores.csv": GOOD + DE})
    code, stdout, stderr = run_cli([*TABLE, "--format", "csv"], capsys)
    assert code == 0, stderr
    assert ",45.0" in stdout  # the mean of de 50 and fr 40, not of 50, 40 and 50


@pytest.mark.parametrize(
    "content, expected",
    [(SHORT_ROW, "line 4: expected 10 fields, got 4"), (VALUE_NONE, "line 2: 'value' is not a number: 'None'")],
)
def test_writing_rows_refuses_a_file_it_cannot_keep_whole(tmp_path, content, expected):
    """What a run's evaluation does if the file was damaged after the run checked it: a row it cannot
    read is neither dropped, blanked nor written back as None; the file stays as it was."""
    from stilts.reports.scores_file import upsert_scores

    path = tmp_path / "scores.csv"
    path.write_text(content)
    row = dict(zip(SCORE_COLUMNS, ["q", "mnli", False, "xnli", 1, "dev", "de", "accuracy", 60.0, "evaluate-3"]))
    with pytest.raises(RunFailed, match=f"scores.csv: {expected}; a run rewrites scores.csv"):
        upsert_scores(path, [row], ["evaluate-3"])
    assert path.read_text() == content


# --- lock files and temporary names: a symbolic link there is never followed ---


def test_a_lock_file_that_is_a_link_is_refused_and_what_it_points_to_kept(tmp_path):
    """Every lock stilts takes (a stage folder's, scores.csv's, stages.json's) is `locked`'s."""
    from stilts.core.artifacts import is_locked, lock_path, locked

    outside = tmp_path / "outside.txt"
    outside.write_text("not stilts' to empty\n")
    stage = tmp_path / "run" / "evaluate-11111111"
    stage.mkdir(parents=True)
    lock_path(stage).symlink_to(outside)
    with pytest.raises(RunFailed, match=r"\.evaluate-11111111\.lock: a symbolic link where stilts keeps a lock file"):
        with locked(stage):
            pass
    assert not is_locked(stage)  # `stilts status`: no process holds it
    assert outside.read_text() == "not stilts' to empty\n"


class _OneProcess:
    """As much of an Accelerator as saving a checkpoint uses, without torch: one process."""

    is_main_process = True

    def wait_for_everyone(self):
        pass

    def save_state(self, folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "model.safetensors").write_text("weights")


def test_a_link_at_a_checkpoints_temporary_name_is_removed_not_followed(tmp_path):
    """Files are written under a temporary name and renamed into place: `write_text_atomic` and
    `atomic_folder` take fresh random names (mkstemp, mkdtemp); a step checkpoint's name is fixed."""
    from stilts.training.checkpoints import PROGRESS, CheckpointStore

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine\n")
    checkpoints = tmp_path / "stage" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / ".step-3.tmp").symlink_to(outside, target_is_directory=True)
    CheckpointStore(checkpoints, _OneProcess()).save(3, {"step": 3})
    assert (checkpoints / "step-3" / PROGRESS).is_file() and not (checkpoints / "step-3").is_symlink()
    assert [path.name for path in outside.iterdir()] == ["keep.txt"]
