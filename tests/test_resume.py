"""Crash safety: a run killed with SIGKILL during training resumes from its last checkpoint and ends
with exactly the scores of a run that was never interrupted; two runs with one seed agree."""

import contextlib
import io
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from conftest import write_pipeline
from helpers import run_cli

from stilts.cli import main

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
    command = [sys.executable, "-m", "stilts.cli", "run", str(pipeline), "--output-dir", str(out)]
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
