"""Two processes on CPU (`accelerate launch --num_processes 2 --cpu`): each process trains on its share
of every global batch, evaluation counts every example exactly once, only the main process writes,
and the scores agree with a single-process run at the same global batch size."""

import csv
import os
import shutil
import subprocess

import pytest
from conftest import write_pipeline
from helpers import run_cli

from stilts.testing import write_tiny_nli


@pytest.mark.skipif(shutil.which("accelerate") is None, reason="the accelerate launcher is not on PATH")
def test_two_processes_match_one(tmp_path, tiny_model, capsys):
    # 23 evaluation examples per language: an odd count, so even batches would pad one process
    data = write_tiny_nli(tmp_path / "data", dev=23)
    pipeline = write_pipeline(tmp_path / "p.yaml", tiny_model, data, learning_rate=3e-3, batch_size=8, epochs=2)
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    launched = subprocess.run(
        [
            "accelerate",
            "launch",
            "--num_processes",
            "2",
            "--cpu",
            "-m",
            "stilts.cli",
            "run",
            str(pipeline),
            "--output-dir",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    code, _, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "one"], capsys)
    assert code == 0

    def rows(folder):
        with open(folder / "scores.csv", newline="") as handle:
            return {(r["split"], r["language"]): float(r["value"]) for r in csv.DictReader(handle)}

    two, one = rows(tmp_path / "two"), rows(tmp_path / "one")
    assert len((tmp_path / "two" / "scores.csv").read_text().splitlines()) == 1 + 6  # written once
    assert two.keys() == one.keys()
    for key in one:
        assert two[key] == pytest.approx(one[key], abs=100 / 23 + 1e-9), key  # at most one example apart
    # every example counted once: accuracies are multiples of 1/23
    assert all(abs(value * 23 / 100 - round(value * 23 / 100)) < 1e-6 for value in two.values())
