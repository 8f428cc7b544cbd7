"""Crash safety: a run killed with SIGKILL during training resumes from its last checkpoint and ends
with exactly the scores of a run that was never interrupted; two runs with one seed agree. SIGINT and
SIGTERM save a checkpoint at the next step, say so, exit 130 and 143, and the rerun resumes from it;
a stage shorter than its checkpoint interval still saves at the end of each epoch."""

import contextlib
import io
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_pipeline
from helpers import run_cli

from stilts.cli import main
from stilts.training.checkpoints import CheckpointStore

TRAINING = dict(epochs=4, validate_every=4, checkpoint_every=2, batch_size=8)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_model, tiny_nli):
    folder = tmp_path_factory.mktemp("resume")
    return write_pipeline(folder / "p.yaml", tiny_model, tiny_nli, name="resume", **TRAINING)


@pytest.fixture(scope="module")
def uninterrupted(pipeline, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "out"
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as done:
        main(["run", str(pipeline), "--output-dir", str(out)])
    assert done.value.code == 0
    return (out / "scores.csv").read_text()


def _checkpoints(out):
    return list(out.glob("*/checkpoints/step-*"))


def test_killed_runs_resume_to_the_same_scores(pipeline, uninterrupted, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "stilts", "run", str(pipeline), "--output-dir", str(out)]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    rng = random.Random(11)
    kills = 0
    seen_checkpoints: set = set()
    for _ in range(2):  # kill at two different points of training
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None:
            new = set(_checkpoints(out)) - seen_checkpoints
            if new:
                seen_checkpoints |= new
                time.sleep(rng.uniform(0.0, 0.6))  # somewhere after a checkpoint, maybe mid-save
                break
            time.sleep(0.05)
        if process.poll() is not None:
            break  # the run got to the end before this kill
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills == 2, "the runs finished too fast to be killed during training"
    finished = subprocess.run(command, capture_output=True, text=True, env=env)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert (out / "scores.csv").read_text() == uninterrupted
    assert not _checkpoints(out)  # complete stages drop their checkpoints


def test_same_seed_same_scores(pipeline, uninterrupted, tmp_path, capsys):
    code, _, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "again"], capsys)
    assert code == 0
    assert (tmp_path / "again" / "scores.csv").read_text() == uninterrupted


#: validation every 2 steps (its best weights saved at the first: the signal goes then), checkpoints
#: far apart: what an interrupted stage keeps is the checkpoint the signal made it save
INTERRUPTIBLE = dict(epochs=2, validate_every=2, checkpoint_every=1000, batch_size=8)
STOPPED = re.compile(
    r"interrupted \((SIG\w+)\): intermediate 'intermediate' stopped at optimizer step (\d+) of 24; kept: its "
    r"checkpoint at optimizer step \2, (\S+); run the same command again to resume from it"
)


@pytest.fixture(scope="module")
def interruptible(tmp_path_factory, tiny_model, tiny_nli):
    """A pipeline to interrupt, and the scores.csv of its uninterrupted run."""
    folder = tmp_path_factory.mktemp("interruptible")
    pipeline = write_pipeline(folder / "p.yaml", tiny_model, tiny_nli, name="interruptible", **INTERRUPTIBLE)
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as done:
        main(["run", str(pipeline), "--output-dir", str(folder / "whole")])
    assert done.value.code == 0
    return pipeline, (folder / "whole" / "scores.csv").read_text()


def _run_until_validated_then_signal(command, signum, output, env) -> int:
    """Start ``command`` (its stdout and stderr to ``output``), send it ``signum`` once the intermediate
    stage has validated (it keeps its best weights: mid-stage); its exit code."""
    with open(output, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 300
        while process.poll() is None and time.time() < deadline:
            if any(Path(command[command.index("--output-dir") + 1]).glob("intermediate-*/checkpoints/best/*")):
                process.send_signal(signum)
                break
            time.sleep(0.05)
        return process.wait(timeout=300)


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_a_checkpoint_says_so_and_the_rerun_resumes_to_the_same_scores(
    interruptible, tmp_path, capsys, signum, exit_code
):
    pipeline, uninterrupted_scores = interruptible
    out = tmp_path / "out"
    command = [sys.executable, "-m", "stilts", "run", str(pipeline), "--output-dir", str(out)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    code = _run_until_validated_then_signal(command, signum, tmp_path / "output", env)
    stderr = (tmp_path / "output").read_text()
    assert code == exit_code, stderr[-2000:]
    assert f"{signum.name}: stopping at the next optimizer step, saving a checkpoint first" in stderr
    (stopped,) = STOPPED.findall(stderr)
    name, step, checkpoint = stopped
    assert name == signum.name and "Traceback" not in stderr
    (stage,) = out.glob("intermediate-*")
    assert Path(checkpoint) == stage / "checkpoints" / f"step-{step}" and (Path(checkpoint) / "progress.json").is_file()
    assert not (stage / "FAILED").exists() and not (stage / "COMPLETE").exists()

    code, stdout, _ = run_cli(["status", out], capsys)
    assert "stopped" in stdout and f"resumes from step {step} when run again" in stdout
    code, stdout, stderr = run_cli(["run", pipeline, "--output-dir", out], capsys)
    assert code == 0, stderr
    assert f"resuming from step-{step} (optimizer step {step} of 24)" in stdout
    assert (out / "scores.csv").read_text() == uninterrupted_scores


def test_a_stage_shorter_than_its_checkpoint_interval_saves_at_the_end_of_each_epoch(
    tmp_path, tiny_model, tiny_nli, capsys, monkeypatch
):
    # 96 examples in batches of 8: 12 steps an epoch; the default interval (validate_every, 1000) is
    # longer than the stage
    pipeline = write_pipeline(tmp_path / "p.yaml", tiny_model, tiny_nli, epochs=2, batch_size=8, validate_every=1000)
    pipeline.write_text(pipeline.read_text().split("- kind: target")[0])  # the intermediate stage alone
    saved = []
    real_save = CheckpointStore.save

    def recording_save(self, step, progress):
        saved.append(step)
        return real_save(self, step, progress)

    monkeypatch.setattr(CheckpointStore, "save", recording_save)
    code, _, stderr = run_cli(["run", pipeline, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    assert saved == [12]  # the last epoch's end is the stage's: its model/ is saved instead


def test_ctrl_c_outside_a_stage_exits_130_saying_interrupted(monkeypatch, tmp_path, capsys):
    # click turns a KeyboardInterrupt into Abort before stilts sees it
    from stilts.cli.tasks import tasks

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tasks, "callback", interrupted)
    code, _, stderr = run_cli(["tasks"], capsys)
    assert (code, stderr.strip()) == (130, "interrupted (SIGINT)")
