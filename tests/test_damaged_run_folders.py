"""Damaged run folders: a file stilts wrote that is missing, cut short or not what stilts writes.

A resume never goes on from a checkpoint it cannot restore whole (its model, optimizer, random states,
progress, the best weights): it falls back to an older whole checkpoint, or starts the stage again, with
a warning line, and ends with the weights of a run that was never interrupted. Any other damaged file
gives exit 1 and one line naming the file and what to do (delete the stage folder, or the record), no
traceback, and nothing written: no scores changed, no export, no prediction files.

Each case is (id, the run folder it damages, how, the command, the exit code, what the one line says).
The run folders are built once for the module and copied for each case: ``completed`` (a tiny MNLI ->
XNLI pipeline run to the end) and ``stopped`` (the same pipeline stopped in its intermediate stage
between the rename of its second checkpoint and the removal of its first: both are kept, whole).
"""

import contextlib
import os
import shutil
from pathlib import Path

import pytest
from conftest import write_pipeline
from helpers import run_cli

from stilts.testing import write_tiny_nli
from stilts.training.checkpoints import CheckpointStore

#: checkpoints every 2 optimizer steps (the stopped run keeps step-2 and step-4 of its intermediate stage)
TRAINING = dict(max_steps=6, validate_every=2, checkpoint_every=2, batch_size=8)


@contextlib.contextmanager
def crash_between_rename_and_prune(monkeypatch):
    """The second `CheckpointStore.save` renames its checkpoint into place, then the process dies before
    it removes the older one: both stay, and an I/O error ends the run."""
    real_save = CheckpointStore.save
    calls = []

    def save(self, step, progress):
        calls.append(step)
        if len(calls) < 2:
            return real_save(self, step, progress)
        older = self.latest()
        kept = self.folder.parent / "kept-older"
        shutil.copytree(older, kept)
        real_save(self, step, progress)
        kept.rename(older)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(CheckpointStore, "save", save)
    yield


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_model):
    """The two run folders, ``completed`` and ``stopped``, and the pipeline each is run with: the whole
    pipeline, and its intermediate stage alone (the same stage: its fingerprint does not change)."""
    root = tmp_path_factory.mktemp("damaged")
    data = write_tiny_nli(root / "data", train=32, dev=8)
    whole = write_pipeline(
        root / "p.yaml", tiny_model, data, stage_settings={"evaluate": {"max_examples": 4}}, **TRAINING
    )
    intermediate = root / "intermediate.yaml"
    intermediate.write_text(whole.read_text().split("- kind: target")[0])
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        assert _run(["run", whole, "--output-dir", root / "completed"]) == 0
        with pytest.MonkeyPatch.context() as monkeypatch, crash_between_rename_and_prune(monkeypatch):
            assert _run(["run", intermediate, "--output-dir", root / "stopped"]) == 1
    (stage,) = (root / "stopped").glob("intermediate-*")
    assert sorted(path.name for path in (stage / "checkpoints").glob("step-*")) == ["step-2", "step-4"]
    return {
        "completed": root / "completed",
        "stopped": root / "stopped",
        "pipeline": {"completed": whole, "stopped": intermediate},
    }


def _run(args) -> int:
    from stilts.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(arg) for arg in args])
    return done.value.code


# --- how a case damages its copy of a run folder ---------------------------------------------------


def _one(folder: Path, pattern: str) -> Path:
    (path,) = folder.glob(pattern)
    return path


def cut(pattern):
    """The file cut to half its length, as a copy or a disk that stopped half way leaves it."""

    def damage(folder):
        path = _one(folder, pattern)
        os.truncate(path, path.stat().st_size // 2)

    return damage


def slurm_jobs(text):
    """The run folder's record of its Slurm jobs, written as ``text``."""

    def damage(folder):
        (folder / "slurm").mkdir()
        (folder / "slurm" / "jobs.json").write_text(text)

    return damage


def cut_last_line(pattern):
    """The file's last line cut in the middle (a file cut at a line's end reads as fewer rows, which the
    table's check of the rows against scores.csv finds)."""

    def damage(folder):
        path = _one(folder, pattern)
        os.truncate(path, path.stat().st_size - 10)

    return damage


def empty(pattern):
    return lambda folder: os.truncate(_one(folder, pattern), 0)


def remove(pattern):
    return lambda folder: [os.unlink(path) for path in folder.glob(pattern)]


def write(pattern, text):
    return lambda folder: _one(folder, pattern).write_text(text)


def pickled_model(pattern):
    """The stage's model saved as a whole pickled module (torch.save(model)) instead of safetensors."""

    def damage(folder):
        import torch
        from transformers import AutoModel

        model_folder = _one(folder, pattern)
        torch.save(AutoModel.from_pretrained(model_folder), model_folder / "pytorch_model.bin")
        os.unlink(model_folder / "model.safetensors")

    return damage


def evaluate_again(damage):
    """``damage``, and the evaluate stage no longer complete: the next run loads the target's outputs."""

    def both(folder):
        damage(folder)
        os.unlink(_one(folder, "evaluate-*/COMPLETE"))

    return both


CHECKPOINT = "intermediate-*/checkpoints/"
REDO = "; delete the stage folder "
RESUMES_FROM_STEP_2 = "); removed it, resuming from step-2 instead"
STARTS_AGAIN = "); removed it, the stage starts again from its first step"
NOT_JSON = ": damaged (not JSON: "
RUN, STATUS = ["run", "{pipeline}", "--output-dir", "{run}"], ["status", "{run}"]
PREDICT, PREDICT_TARGET = ["predict", "{run}", "--output", "{out}"], ["predict", "{target}", "--output", "{out}"]
EXPORT = ["export", "{target}", "--output", "{out}"]

CASES = [
    # --- a resume from a checkpoint that cannot be restored whole: the one line is a warning, exit 0 ---
    (
        "resume-random-states-missing",
        "stopped",
        remove(CHECKPOINT + "step-4/random_states_0.pkl"),
        RUN,
        0,
        "step-4/random_states_0.pkl: missing" + RESUMES_FROM_STEP_2,
    ),
    (
        "resume-random-states-cut",
        "stopped",
        cut(CHECKPOINT + "step-4/random_states_0.pkl"),
        RUN,
        0,
        "step-4/random_states_0.pkl: truncated (the zip archive torch writes lacks its end)" + RESUMES_FROM_STEP_2,
    ),
    (
        "resume-random-states-of-every-checkpoint-missing",
        "stopped",
        remove(CHECKPOINT + "step-*/random_states_0.pkl"),
        RUN,
        0,
        "step-4/random_states_0.pkl: missing" + STARTS_AGAIN,
    ),
    (
        "resume-progress-cut",
        "stopped",
        cut(CHECKPOINT + "step-4/progress.json"),
        RUN,
        0,
        "step-4/progress.json: damaged (JSONDecodeError: ",
    ),
    (
        "resume-progress-not-trains",
        "stopped",
        write(CHECKPOINT + "step-4/progress.json", '{"progress": {"history": []}}'),
        RUN,
        0,
        "step-4/progress.json: damaged (no streams, sampler, scheduler)" + RESUMES_FROM_STEP_2,
    ),
    (
        "resume-model-empty",
        "stopped",
        empty(CHECKPOINT + "step-4/model.safetensors"),
        RUN,
        0,
        "step-4/model.safetensors: empty (0 bytes)" + RESUMES_FROM_STEP_2,
    ),
    (
        "resume-optimizer-cut",
        "stopped",
        cut(CHECKPOINT + "step-4/optimizer.bin"),
        RUN,
        0,
        "step-4/optimizer.bin: truncated (the zip archive torch writes lacks its end)" + RESUMES_FROM_STEP_2,
    ),
    (
        "resume-best-weights-cut",
        "stopped",
        cut(CHECKPOINT + "best/model.safetensors"),
        RUN,
        0,
        "checkpoint step-4 cannot be restored exactly (",
    ),
    # --- a complete stage's files ---
    (
        "run-evaluation-metrics-cut",
        "completed",
        cut("evaluate-*/metrics.json"),
        RUN,
        1,
        "/metrics.json" + NOT_JSON,
    ),
    (
        "run-evaluation-metrics-not-an-evaluation",
        "completed",
        write("evaluate-*/metrics.json", "{}"),
        RUN,
        1,
        "/metrics.json: damaged (no task, scores)" + REDO,
    ),
    (
        "run-head-empty",
        "completed",
        evaluate_again(empty("target-*/heads/xnli.safetensors")),
        RUN,
        1,
        "/heads/xnli.safetensors: empty (0 bytes)" + REDO,
    ),
    (
        "run-model-cut",
        "completed",
        evaluate_again(cut("target-*/model/model.safetensors")),
        RUN,
        1,
        "/model/model.safetensors: not a whole safetensors file (Error while deserializing header: incomplete metadata",
    ),
    (
        "run-model-pickled",
        "completed",
        evaluate_again(pickled_model("target-*/model")),
        RUN,
        1,
        "/model/pytorch_model.bin: torch will not load it as plain weights (Unsupported global: GLOBAL transformers.",
    ),
    # --- the run folder's record of its stages ---
    ("run-stages-record-cut", "completed", cut("stages.json"), RUN, 1, "stages.json" + NOT_JSON),
    ("status-stages-record-cut", "completed", cut("stages.json"), STATUS, 1, "stages.json" + NOT_JSON),
    (
        "status-stages-record-not-an-object",
        "completed",
        write("stages.json", "[]"),
        STATUS,
        1,
        "stages.json: damaged (not a JSON object); delete it: `stilts status` then lists the stage folders it finds",
    ),
    (
        "status-stages-record-entry",
        "completed",
        write("stages.json", '{"0123abcd": {"name": "x"}}'),
        STATUS,
        1,
        "stages.json: damaged (a stage without its name, kind or folder)",
    ),
    # status still shows every stage; the damaged one's row says what is wrong
    ("status-metrics-cut", "completed", cut("target-*/metrics.json"), STATUS, 0, "/metrics.json" + NOT_JSON),
    # --- predict ---
    (
        "predict-evaluation-config-cut",
        "completed",
        cut("evaluate-*/config.json"),
        PREDICT,
        1,
        "/config.json" + NOT_JSON,
    ),
    (
        "predict-target-config-empty-object",
        "completed",
        write("target-*/config.json", "{}"),
        PREDICT_TARGET,
        1,
        "/config.json: damaged (no kind, pipeline, model, upstream, settings)" + REDO,
    ),
    ("predict-target-config-cut", "completed", cut("target-*/config.json"), PREDICT, 1, "/config.json" + NOT_JSON),
    (
        "predict-heads-index-cut",
        "completed",
        cut("target-*/heads/heads.json"),
        PREDICT_TARGET,
        1,
        "heads.json" + NOT_JSON,
    ),
    (
        "predict-evaluation-metrics-cut",
        "completed",
        cut("evaluate-*/metrics.json"),
        PREDICT,
        1,
        "/metrics.json" + NOT_JSON,
    ),
    (
        "predict-model-empty",
        "completed",
        empty("target-*/model/model.safetensors"),
        PREDICT,
        1,
        "/model/model.safetensors: empty (0 bytes)" + REDO,
    ),
    (
        "predict-head-cut",
        "completed",
        cut("target-*/heads/xnli.safetensors"),
        PREDICT,
        1,
        "/heads/xnli.safetensors: not a whole safetensors file",
    ),
    # --- export: a config.json that cannot be read made a blank model card ---
    ("export-config-cut", "completed", cut("target-*/config.json"), EXPORT, 1, "/config.json" + NOT_JSON),
    (
        "export-upstream-config-cut",
        "completed",
        cut("intermediate-*/config.json"),
        EXPORT,
        1,
        "/config.json" + NOT_JSON,
    ),
    (
        "export-config-empty-object",
        "completed",
        write("target-*/config.json", "{}"),
        EXPORT,
        1,
        "/config.json: damaged (no kind",
    ),
    ("export-heads-index-cut", "completed", cut("target-*/heads/heads.json"), EXPORT, 1, "heads.json" + NOT_JSON),
    (
        "export-head-cut",
        "completed",
        cut("target-*/heads/xnli.safetensors"),
        EXPORT,
        1,
        "/heads/xnli.safetensors: not a whole safetensors file",
    ),
    (
        "export-model-pickled",
        "completed",
        pickled_model("target-*/model"),
        EXPORT,
        1,
        "torch will not load it as plain weights",
    ),
    (
        "export-evaluation-metrics-cut",
        "completed",
        cut("evaluate-*/metrics.json"),
        EXPORT,
        1,
        "/metrics.json" + NOT_JSON,
    ),
    # the record of a run's Slurm jobs (without it, stilts cannot tell which stages have a job queued)
    ("status-slurm-jobs-cut", "completed", slurm_jobs('{"0123abcd": {"job_id": "4'), STATUS, 1, "jobs.json" + NOT_JSON),
    ("status-slurm-job-without-id", "completed", slurm_jobs('{"0123abcd": {}}'), STATUS, 1, "has no job_id"),
    # the per-example rows `stilts table --ci` draws its intervals from
    (
        "table-ci-examples-cut",
        "completed",
        cut_last_line("evaluate-*/predictions/dev-de.examples.jsonl"),
        ["table", "{run}/scores.csv", "--ci", "95"],
        1,
        "dev-de.examples.jsonl: line ",
    ),
]


@pytest.mark.parametrize("name, base, damage, command, code, expected", CASES, ids=[case[0] for case in CASES])
def test_damaged_run_folder(folders, tmp_path, capsys, name, base, damage, command, code, expected):
    run = tmp_path / "run"
    shutil.copytree(folders[base], run)
    damage(run)
    scores = (run / "scores.csv").read_text() if (run / "scores.csv").exists() else None
    places = {
        "pipeline": folders["pipeline"][base],
        "run": run,
        "target": next(run.glob("target-*"), None),
        "out": tmp_path / "out",
    }
    exit_code, stdout, stderr = run_cli([str(part).format(**places) for part in command], capsys)
    assert exit_code == code, stderr[-3000:]
    assert "Traceback" not in stderr
    if code == 0:  # said once, in the log (a resume's warning) or in the stage's row (status)
        assert len([line for line in stdout.splitlines() if expected in line]) == 1, stdout
    else:
        errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and expected in errors[0], stderr[-3000:]
        assert "delete" in errors[0] or "move the file away" in errors[0]  # what to do
        assert not (tmp_path / "out").exists()  # no export, no prediction files
        assert (run / "scores.csv").read_text() == scores  # no score changed
    if base == "stopped" and STARTS_AGAIN in expected:  # the stage's last line does not claim a resume
        assert "intermediate 'intermediate' done in " in stdout and "resumed from step" not in stdout
    if base == "stopped":  # resumed exactly where it could, or started again: the uninterrupted weights
        assert _weights(run, "intermediate-*") == _weights(folders["completed"], "intermediate-*")
        assert not list(run.glob("*/checkpoints"))


def _weights(run: Path, stage: str) -> dict:
    from safetensors.torch import load_file

    return {key: value.tolist() for key, value in load_file(_one(run, stage) / "model" / "model.safetensors").items()}


def test_a_stopped_stage_resumes_from_its_newest_checkpoint_when_every_file_loads(folders, tmp_path, capsys):
    """The fixture's stopped run, undamaged: the newest checkpoint is taken, and no warning is given."""
    shutil.copytree(folders["stopped"], tmp_path / "run")
    code, stdout, stderr = run_cli(["run", folders["pipeline"]["stopped"], "--output-dir", tmp_path / "run"], capsys)
    assert code == 0, stderr[-3000:]
    assert "resuming from step-4 (optimizer step 4 of 6)" in stdout and "cannot be restored" not in stdout
    assert "(resumed from step 4), dev " in stdout  # the stage's last line says it went on from there
    assert _weights(tmp_path / "run", "intermediate-*") == _weights(folders["completed"], "intermediate-*")
