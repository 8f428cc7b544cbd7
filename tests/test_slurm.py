"""`stilts sweep --submit slurm` against a real Slurm (tests/slurm/local_cluster.sh starts a
one-node cluster; .ci/run does). Without a cluster these tests skip and say why; with
STILTS_REQUIRE_SLURM=1 (CI) they fail instead."""

import csv
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from helpers import run_cli

from stilts.pipeline.run_folder import recorded_stages
from stilts.pipeline.slurm.queue import known_jobs, queued_jobs
from stilts.pipeline.slurm.records import job_records
from stilts.testing import write_qqp, write_tiny_topics


def _why_no_cluster() -> str | None:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "no Slurm here (start one as root: bash tests/slurm/local_cluster.sh)"
    done = subprocess.run(["sinfo", "--noheader", "--format", "%T"], capture_output=True, text=True)
    if done.returncode != 0 or not any(s.startswith(("idle", "mix", "alloc")) for s in done.stdout.split()):
        return f"Slurm does not answer or has no usable node: {(done.stderr or done.stdout).strip()[:200]}"
    try:
        import submitit  # noqa: F401
    except ImportError:
        return 'submitit is not installed (pip install -e ".[slurm]")'
    return None


@pytest.fixture(scope="module")
def cluster():
    reason = _why_no_cluster()
    if reason:
        if os.environ.get("STILTS_REQUIRE_SLURM") == "1":
            pytest.fail(f"STILTS_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)


PAUSE_HOOK = Path(__file__).parent / "slurm" / "pause_hook"


def _write_grid(folder, tiny_model, tiny_nli, *, intermediate, target, tasks=None, nan_task=None):
    """A grid on the tiny model; its jobs pause after each checkpoint while ``folder/pause`` exists, and
    their training loss of ``nan_task`` is NaN."""
    topics = write_tiny_topics(folder / "topics")
    qqp = write_qqp(folder / "qqp", train=16, dev=6)
    settings = {"learning_rate": 1e-3, "batch_size": 16, "epochs": 1, "validate_every": 100}
    config = {
        "name": "cluster_grid",
        "model": str(tiny_model),
        "data": {"mnli": str(tiny_nli["mnli"]), "xnli": str(tiny_nli["xnli"]), "topics": str(topics), "qqp": str(qqp)},
        "stages": {"intermediate": settings, "target": settings, "evaluate": {"max_examples": 8}},
        "tasks": tasks or {},
        "matrix": {"intermediate": intermediate, "target": target, "seed": [1]},
        # one core each: the test node has two, so two jobs run at once
        "slurm": {
            "gpus_per_job": 0,
            "cpus_per_job": 1,
            "time": "20",
            # the hook first, then the submitter's path: jobs import the stilts under test (a worktree
            # on PYTHONPATH, not the editable install it shadows)
            "setup": [
                f"export PYTHONPATH={PAUSE_HOOK}${{PYTHONPATH:+:$PYTHONPATH}}",
                f"export STILTS_TEST_PAUSE_FILE={folder / 'pause'}",
                *([f"export STILTS_TEST_NAN_TASK={nan_task}"] if nan_task else []),
            ],
        },
    }
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_for(condition, what: str, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; queue: {queued_jobs()}")


def _wait_until_done(run_dir, timeout: float = 300):
    ids = {record["job_id"] for record in job_records(run_dir).values()}
    _wait_for(lambda: not ids & set(queued_jobs()), f"the jobs of {run_dir} to leave the queue", timeout)


def _scores(path):
    with open(path, newline="") as handle:
        return sorted(tuple(row.values()) for row in csv.DictReader(handle))


def _stage(run_dir, kind, pipeline):
    """The fingerprint and folder of the stage of ``kind`` in ``pipeline``."""
    for fingerprint, entry in recorded_stages(run_dir).items():
        if entry["kind"] == kind and pipeline in entry["pipelines"]:
            return fingerprint, run_dir / entry["folder"]
    raise AssertionError(f"no {kind} stage in {pipeline}")


def _slurm_times(job_id):
    details = known_jobs().get(job_id, {})
    return details["StartTime"], details["EndTime"]


def test_grid_runs_as_a_dag_of_jobs_and_a_cancelled_job_resumes(cluster, tiny_model, tiny_nli, tmp_path, capsys):
    # the mnli intermediate stage checkpoints mid-training, and waits there until the pause file goes
    long_mnli = {"mnli": {"epochs": 2, "checkpoint_every": 3}}
    path = _write_grid(tmp_path, tiny_model, tiny_nli, intermediate=["mnli", "qqp"], target=["xnli"], tasks=long_mnli)
    local, out = tmp_path / "local", tmp_path / "slurm"
    code, _, stderr = run_cli(["sweep", path, "--output-dir", local], capsys)
    assert code == 0, stderr

    (tmp_path / "pause").touch()
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", out, "--submit", "slurm"], capsys)
    assert code == 0, stderr
    # 2 intermediate + 2 target + 2 evaluate stages = 6 jobs; the intermediate stages are one array
    assert "slurm: submitted 6 jobs (1 job array); 0 stages already complete, 0 already queued or running" in stdout
    mnli, mnli_folder = _stage(out, "intermediate", "mnli-xnli-s1")
    first_job = job_records(out)[mnli]["job_id"]

    _wait_for(lambda: any((mnli_folder / "checkpoints").glob("step-*/progress.json")), "a checkpoint of mnli")
    subprocess.run(["scancel", first_job], check=True)
    (tmp_path / "pause").unlink()
    mnli_targets = [_stage(out, "target", "mnli-xnli-s1")[0]]
    _wait_for(
        lambda: not {job_records(out)[f]["job_id"] for f in [mnli, *mnli_targets]} & set(queued_jobs()),
        "the cancelled job and its dependents to leave the queue",
    )
    code, stdout, _ = run_cli(["status", out], capsys)
    assert code == 0
    lines = {line.split()[2]: line for line in stdout.splitlines()[2:]}
    assert lines[mnli_folder.name].split()[0] == "failed" and "job cancelled" in lines[mnli_folder.name]
    assert first_job in lines[mnli_folder.name]
    for fingerprint in mnli_targets:  # their jobs were cancelled with the one they waited for
        target_line = next(line for name, line in lines.items() if name.endswith(fingerprint[:8]))
        assert target_line.split()[0] == "blocked" and mnli[:8] in target_line

    # again: only what is not complete and not queued or running goes out (the mnli chain: 3 jobs)
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", out, "--submit", "slurm"], capsys)
    assert code == 0, stderr
    assert "slurm: submitted 3 jobs (0 job arrays)" in stdout
    _wait_until_done(out)

    code, stdout, _ = run_cli(["status", out], capsys)
    assert f"{out}: 6 stages: 6 complete" in stdout, stdout
    assert _scores(out / "scores.csv") == _scores(local / "scores.csv")
    records = job_records(out)
    assert [job["job_id"] for job in records[mnli]["earlier"]] == [first_job]
    logs = {f: open(record["stdout"]).read() for f, record in records.items()}
    assert f"resuming -> {mnli_folder}" in logs[mnli]
    # every stage ran once in the jobs (the cancelled mnli run once more, resuming): a target's job
    # reused the intermediate model its upstream job trained
    everything = "".join(logs.values()) + open(records[mnli]["earlier"][0]["stdout"]).read()
    for entry in recorded_stages(out).values():
        assert everything.count(f"running -> {out / entry['folder']}\n") == 1, entry
    # Slurm started each job after the job of the stage it starts from had ended
    for fingerprint, entry in recorded_stages(out).items():
        if entry["upstream"]:
            started, _ = _slurm_times(records[fingerprint]["job_id"])
            _, upstream_ended = _slurm_times(records[entry["upstream"]]["job_id"])
            assert started >= upstream_ended, (entry, started, upstream_ended)

    code, stdout, _ = run_cli(["sweep", path, "--output-dir", out, "--submit", "slurm"], capsys)
    assert code == 0 and "slurm: nothing to submit; 6 stages complete, 0 queued or running" in stdout


def test_slurm_refuses_a_request_before_anything_is_submitted(cluster, tiny_model, tiny_nli, tmp_path, capsys):
    path = _write_grid(tmp_path, tiny_model, tiny_nli, intermediate=["qqp"], target=["xnli"])
    out = tmp_path / "slurm"
    code, _, stderr = run_cli(["sweep", path, "--output-dir", out, "--submit", "slurm", "--partition", "nope"], capsys)
    assert (
        code == 2
        and "slurm: Slurm refuses the request of the intermediate jobs (CPU, 00:20:00, partition nope)" in stderr
    )
    assert "invalid partition specified: nope" in stderr.lower()
    # this node has no GPUs
    code, _, stderr = run_cli(["sweep", path, "--output-dir", out, "--submit", "slurm", "--gpus-per-job", "1"], capsys)
    assert code == 2 and "Slurm refuses the request" in stderr and "1 GPU" in stderr
    assert not (out / "slurm" / "jobs.json").exists()


def test_status_cancel_cancels_the_runs_queued_jobs(cluster, tiny_model, tiny_nli, tmp_path, capsys):
    path = _write_grid(tmp_path, tiny_model, tiny_nli, intermediate=["qqp"], target=["xnli"])
    out = tmp_path / "slurm"
    later = ["--set", "slurm.sbatch={begin: now+3600}"]  # the jobs wait in the queue for an hour
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", out, "--submit", "slurm", *later], capsys)
    assert code == 0 and "slurm: submitted 3 jobs" in stdout, stderr
    code, stdout, _ = run_cli(["status", out], capsys)
    assert f"{out}: 3 stages: 3 queued" in stdout and "BeginTime" in stdout
    code, stdout, _ = run_cli(["status", out, "--cancel"], capsys)
    assert code == 0 and f"cancelled 3 Slurm jobs of {out}" in stdout
    assert not {record["job_id"] for record in job_records(out).values()} & set(queued_jobs())
    assert f"{out}: 3 stages: 1 failed, 2 blocked" in stdout and "job cancelled" in stdout


def test_a_failed_stage_blocks_its_dependents_and_the_others_finish(cluster, tiny_model, tiny_nli, tmp_path, capsys):
    # the qqp intermediate stage's loss is NaN (the jobs' test hook): it fails, its target is blocked
    path = _write_grid(tmp_path, tiny_model, tiny_nli, intermediate=["none", "qqp"], target=["xnli"], nan_task="qqp")
    out = tmp_path / "slurm"
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", out, "--submit", "slurm"], capsys)
    assert code == 0, stderr
    assert "slurm: submitted 5 jobs" in stdout
    code, stdout, _ = run_cli(["status", out], capsys)
    assert any(state in stdout for state in (" queued ", " running ")), stdout
    _wait_until_done(out)

    code, stdout, _ = run_cli(["status", out], capsys)
    assert f"{out}: 5 stages: 2 complete, 1 failed, 2 blocked" in stdout, stdout
    _, qqp_intermediate = _stage(out, "intermediate", "qqp-xnli-s1")
    failed = next(line for line in stdout.splitlines() if qqp_intermediate.name in line)
    assert failed.split()[0] == "failed" and "loss is nan" in failed
    with open(out / "scores.csv", newline="") as handle:
        assert {row["intermediate"] for row in csv.DictReader(handle)} == {"none"}

    code, stdout, _ = run_cli(["status", out, "--cancel"], capsys)
    assert code == 0 and "cancelled 0 Slurm jobs" in stdout
    # resubmitting sends the failed stage and the ones it blocked again
    code, stdout, _ = run_cli(["sweep", path, "--output-dir", out, "--submit", "slurm", "--dry-run"], capsys)
    assert code == 0 and "slurm: would submit 3 jobs (0 job arrays); 2 stages already complete" in stdout
    assert json.loads((out / "slurm" / "jobs.json").read_text())  # the dry run submitted nothing new


@pytest.mark.slow
def test_a_job_warned_of_its_time_limit_is_requeued_and_resumes(cluster, tiny_model, tiny_nli, tmp_path, capsys):
    """Slurm's warning before the time limit (USR2, as --signal=USR2@90 sends it): submitit requeues
    the job, which resumes the stage from its checkpoint. Slow: Slurm holds a requeued job ~2 min."""
    long_mnli = {"mnli": {"epochs": 2, "checkpoint_every": 3}}
    path = _write_grid(tmp_path, tiny_model, tiny_nli, intermediate=["mnli"], target=["xnli"], tasks=long_mnli)
    local, out = tmp_path / "local", tmp_path / "slurm"
    assert run_cli(["sweep", path, "--output-dir", local], capsys)[0] == 0
    (tmp_path / "pause").touch()
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", out, "--submit", "slurm"], capsys)
    assert code == 0, stderr
    mnli, folder = _stage(out, "intermediate", "mnli-xnli-s1")
    job = job_records(out)[mnli]["job_id"]
    _wait_for(lambda: any((folder / "checkpoints").glob("step-*/progress.json")), "a checkpoint of mnli")
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    (tmp_path / "pause").unlink()
    _wait_until_done(out, timeout=600)
    assert known_jobs()[job]["Restarts"] == "1"
    log = open(job_records(out)[mnli]["stdout"]).read()
    assert "resuming from step-" in log
    assert _scores(out / "scores.csv") == _scores(local / "scores.csv")
