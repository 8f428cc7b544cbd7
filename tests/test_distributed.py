"""Two processes on CPU (torchrun with ACCELERATE_USE_CPU; `accelerate launch --cpu --num_processes 2`
starts one): each process trains on its share of every global batch, evaluation counts every example
exactly once, only the main process writes, and the scores agree with a single-process run at the same
global batch size; a signal to one process stops them all at one step."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import write_pipeline
from helpers import run_cli

from stilts.testing import write_tiny_nli

#: two CPU processes with gloo: torchrun itself, as `accelerate launch --cpu --num_processes 2` (accelerate
#: 1.16) starts one process unless given an MPI host file; ACCELERATE_USE_CPU makes each a MULTI_CPU rank
TWO_CPU_PROCESSES = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def test_two_processes_match_one(tmp_path, tiny_model, capsys):
    # 23 evaluation examples per language: an odd count, so even batches would pad one process
    data = write_tiny_nli(tmp_path / "data", dev=23)
    # each process draws its own dropout masks, so the two runs' weights differ by dropout noise only
    # (with every dropout off they agree to 1e-7: measured by hand, docs/pipelines.md); a small learning rate
    # keeps that noise from moving a prediction by more than an example
    pipeline = write_pipeline(tmp_path / "p.yaml", tiny_model, data, learning_rate=3e-4, batch_size=8, epochs=2)
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", ACCELERATE_USE_CPU="true")
    launched = subprocess.run(
        [*TWO_CPU_PROCESSES, "-m", "stilts", "run", str(pipeline), "--output-dir", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "(2 processes)" in launched.stdout
    code, _, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "one"], capsys)
    assert code == 0
    for folder, processes in (("two", 2), ("one", 1)):  # each stage ran in as many processes as launched
        for config in (tmp_path / folder).glob("*/config.json"):
            assert json.loads(config.read_text())["processes"] == processes, config

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


def test_a_signal_to_one_process_stops_every_process_at_the_same_step(tmp_path, tiny_model):
    """SIGTERM to one of the two processes alone: both save one checkpoint together and stop (a process
    that went on alone would wait forever in the next collective), and the rerun resumes from it."""
    import psutil

    data = write_tiny_nli(tmp_path / "data")
    pipeline = write_pipeline(
        tmp_path / "p.yaml", tiny_model, data, batch_size=8, epochs=2, validate_every=2, checkpoint_every=1000
    )
    command = [*TWO_CPU_PROCESSES, "-m", "stilts", "run", str(pipeline), "--output-dir", str(tmp_path / "out")]
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", ACCELERATE_USE_CPU="true")
    with open(tmp_path / "stderr", "w") as stderr:
        launcher = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        deadline = time.time() + 300
        while launcher.poll() is None and time.time() < deadline:  # mid-stage: the first validation is done
            if any((tmp_path / "out").glob("intermediate-*/checkpoints/best/*")):
                children = psutil.Process(launcher.pid).children(recursive=True)
                workers = [child for child in children if "-m stilts run" in " ".join(child.cmdline())]
                assert len(workers) == 2, [child.cmdline() for child in children]
                workers[-1].send_signal(signal.SIGTERM)
                break
            time.sleep(0.05)
        launcher.wait(timeout=300)
    stderr = (tmp_path / "stderr").read_text()
    stopped = re.findall(
        r"interrupted \(SIGTERM\): intermediate 'intermediate' stopped at optimizer step (\d+) ", stderr
    )
    assert len(stopped) == 2 and stopped[0] == stopped[1], stderr[-3000:]  # each process says so, at one step
    (stage,) = (tmp_path / "out").glob("intermediate-*")
    assert [path.name for path in (stage / "checkpoints").glob("step-*")] == [f"step-{stopped[0]}"]

    resumed = subprocess.run(command, capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from step-{stopped[0]} " in resumed.stdout
