"""Submitting to Slurm, without a cluster: settings, the job DAG, each job's command line, `--stage`,
`stilts status` of local runs, and scores.csv under many concurrent writers."""

import csv
import multiprocessing
import re

import pytest
import yaml
from helpers import run_cli

from stilts.core.errors import RunFailed
from stilts.pipeline.engine import plan_pipeline
from stilts.pipeline.run_folder import recorded_stages
from stilts.pipeline.slurm.job import RENDEZVOUS_PORT, StageJob
from stilts.pipeline.slurm.settings import SlurmConfig, resources_for, time_in_minutes
from stilts.pipeline.slurm.submit import describe_dag, job_dag, sbatch_flags
from stilts.pipeline.sweep import SweepConfig, expand
from stilts.pipeline.training_stage import TrainingStageRunner
from stilts.reports.scores_file import SCORE_COLUMNS, upsert_scores
from stilts.testing import write_tiny_topics


@pytest.mark.parametrize(
    "text, minutes",
    [("90", 90), ("30:30", 31), ("1:30:00", 90), ("2-00:00:00", 2880), ("1-12", 2160), ("0-00:00:01", 1)],
)
def test_slurm_times_in_minutes(text, minutes):
    assert time_in_minutes(text) == minutes


@pytest.mark.parametrize("text", ["1:70:00", "12:00:61", "abc", "0", "1.5", "-1"])
def test_bad_slurm_times(text):
    with pytest.raises(ValueError):
        time_in_minutes(text)


def test_resources_per_kind():
    config = SlurmConfig.model_validate(
        {
            "partition": "gpu",
            "gpus_per_job": 4,
            "time": "12:00:00",
            "stages": {"intermediate": {"nodes_per_job": 2, "gpus_per_job": 16}, "evaluate": {"time": "1:00:00"}},
        }
    )
    intermediate = resources_for(config, "intermediate", produces_model=True)
    assert (intermediate.gpus_per_job, intermediate.nodes_per_job, intermediate.gpus_per_node) == (16, 2, 8)
    target = resources_for(config, "target", produces_model=True)
    assert (target.gpus_per_job, target.nodes_per_job, target.time, target.partition) == (4, 1, "12:00:00", "gpu")
    evaluate = resources_for(config, "evaluate", produces_model=False)  # inference: one GPU is enough
    assert (evaluate.gpus_per_job, evaluate.time) == (1, "1:00:00")
    assert evaluate.describe() == "1 GPU, 01:00:00, partition gpu"
    assert intermediate.describe() == "16 GPUs on 2 nodes, 12:00:00, partition gpu"
    flags = sbatch_flags(intermediate)
    assert "--gpus-per-node=8" in flags and "--nodes=2" in flags and "--time=720" in flags
    defaults = resources_for(None, "target", produces_model=True)
    assert (defaults.gpus_per_job, defaults.nodes_per_job, defaults.time) == (1, 1, "24:00:00")


def test_each_job_runs_its_stage_on_its_devices():
    job = StageJob("/g/grid.yaml", ("seed=2",), "/runs/g", "ab" * 32, gpus_per_node=0, nodes=1, python="py")
    stilts = ["-m", "stilts", "sweep", "/g/grid.yaml", "--output-dir", "/runs/g", "--stage", "ab" * 32]
    assert job.command() == ["py", *stilts, "--set", "seed=2"]
    one_gpu = StageJob("/g/grid.yaml", (), "/runs/g", "ab" * 32, gpus_per_node=1, nodes=1, python="py")
    assert one_gpu.command() == ["py", *stilts]
    four = StageJob("/g/grid.yaml", (), "/runs/g", "ab" * 32, gpus_per_node=4, nodes=1, python="py")
    launch = ["py", "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes"]
    assert four.command() == [*launch, "4", "--num_machines", "1", "--machine_rank", "0", *stilts]
    two_nodes = StageJob("/g/grid.yaml", (), "/runs/g", "ab" * 32, gpus_per_node=8, nodes=2, python="py")
    assert two_nodes.command(node_rank=1, head_node="gpu-07", job_id="123456_3") == [
        *launch,
        "16",
        "--num_machines",
        "2",
        "--machine_rank",
        "1",
        "--main_process_ip",
        "gpu-07",
        "--main_process_port",
        str(RENDEZVOUS_PORT + 456),
        *stilts,
    ]


def test_a_job_uses_the_cores_slurm_gave_it():
    cpu = StageJob("/g/grid.yaml", (), "/runs/g", "ab" * 32, gpus_per_node=0, nodes=1)
    assert cpu.environment({"SLURM_CPUS_PER_TASK": "6"})["OMP_NUM_THREADS"] == "6"
    gpus = StageJob("/g/grid.yaml", (), "/runs/g", "ab" * 32, gpus_per_node=4, nodes=1)
    assert gpus.environment({"SLURM_CPUS_ON_NODE": "32"})["OMP_NUM_THREADS"] == "8"  # a share per process
    assert gpus.environment({"SLURM_CPUS_ON_NODE": "32", "OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"] == "3"
    assert "OMP_NUM_THREADS" not in cpu.environment({})


def test_the_papers_grid_is_one_job_per_unique_stage(nine_by_nine, tmp_path):
    sweep = SweepConfig.model_validate(
        {
            "name": "grid",
            "model": "some/hub-model",
            "matrix": {"intermediate": ["none"] + nine_by_nine[:9], "target": nine_by_nine[9:], "seed": [1, 2, 3]},
            "slurm": {"gpus_per_job": 4},
        }
    )
    plans = [
        (pipeline.name, plan_pipeline(pipeline, tmp_path, tmp_path / "out", "grid.yaml")[0])
        for pipeline in expand(sweep, "grid.yaml")
    ]
    dag = job_dag(plans, sweep.slurm, "grid.yaml", active={})
    kinds = [job.stage.kind for job in dag.jobs]
    assert (kinds.count("intermediate"), kinds.count("target"), kinds.count("evaluate")) == (27, 270, 270)
    by_fingerprint = {job.stage.fingerprint: job for job in dag.jobs}
    for job in dag.jobs:
        if job.stage.kind == "evaluate":
            assert job.after.kind == "target" and job.resources.gpus_per_job == 1 and job.depth in (1, 2)
        elif job.stage.kind == "target" and job.after is not None:
            assert job.after.kind == "intermediate" and job.depth == 1 and job.resources.gpus_per_job == 4
        if job.after is not None:
            assert by_fingerprint[job.after.fingerprint].depth < job.depth
    # arrays: the 27 intermediate stages; the 27 baseline targets; the 9 targets of each intermediate model
    sizes = sorted(len(group) for group in dag.arrays() if len(group) > 1)
    assert sizes == [9] * 27 + [27, 27]
    assert sum(len(group) == 1 for group in dag.arrays()) == 270
    shared = next(job for job in dag.jobs if job.stage.kind == "intermediate")
    assert len(shared.pipelines) == 9

    # a stage whose job is still queued is not submitted again; its dependents wait on that job
    queued = job_dag(plans, sweep.slurm, "grid.yaml", active={shared.stage.fingerprint: "4242_0"})
    assert len(queued.jobs) == 566 and queued.queued == {shared.stage.fingerprint: "4242_0"}
    waiting = [line for line in describe_dag(queued) if "queued job 4242_0" in line]
    assert len(waiting) == 9


@pytest.fixture
def small_grid(tmp_path, tiny_model, tiny_nli):
    topics = write_tiny_topics(tmp_path / "topics")
    settings = {"learning_rate": 1e-3, "batch_size": 16, "epochs": 1, "validate_every": 100}
    config = {
        "name": "small",
        "model": str(tiny_model),
        "data": {"mnli": str(tiny_nli["mnli"]), "xnli": str(tiny_nli["xnli"]), "topics": str(topics)},
        "stages": {"intermediate": settings, "target": settings, "evaluate": {"max_examples": 8}},
        "matrix": {"intermediate": ["mnli"], "target": ["xnli", "topics"]},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_dry_run_prints_the_job_dag_without_slurm(small_grid, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no sbatch, squeue: a dry run needs none
    code, stdout, stderr = run_cli(
        ["sweep", small_grid, "--submit", "slurm", "--gpus-per-job", "0", "--dry-run"], capsys
    )
    assert code == 0, stderr
    assert "slurm: would submit 5 jobs (1 job array); 0 stages already complete, 0 already queued or running" in stdout
    assert "  intermediate: 1 jobs, CPU, 1-00:00:00 each\n  target: 2 jobs," in stdout
    lines = [line for line in stdout.splitlines() if line.startswith("  ") and " each" not in line]
    assert len(lines) == 5 and lines[0].split()[0] == "intermediate" and "at once" in lines[0]
    assert "CPU, 1-00:00:00; after intermediate 'intermediate'" in lines[1] and "(array 2, 2 jobs)" in lines[1]
    code, _, stderr = run_cli(["sweep", small_grid, "--submit", "slurm", "--gpus-per-job", "0"], capsys)
    assert code == 2 and "error: --submit slurm: sbatch is not on PATH" in stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--gpus-per-job", "-1"], "slurm.gpus_per_job: input should be greater than or equal to 0 (got -1)"),
        (["--time", "25:61:00"], "slurm.time: '25:61:00' is not a Slurm time (minutes and seconds must be below 60)"),
        (["--mem", "lots"], "slurm.mem: string should match pattern"),
        (["--gpus-per-job", "3", "--nodes-per-job", "2"], "cannot be spread evenly over 2 nodes"),
        (["--set", "slurm.time=12:00:00"], "slurm.time: 43200 is a number: write the time in quotes"),
        (["--set", "slurm.stages.evalute={time: '1:00:00'}"], "slurm.stages.evalute: unknown stage kind"),
        (["--set", "slurm.sbatch={dependency: afterany:1}"], "'dependency' is set by stilts for every job"),
        (["--set", "slurm.partitions=gpu"], "slurm.partitions: unknown field (did you mean 'partition'?)"),
        (["--jobs", "2"], "--submit: submits every stage as its own job; it does not go with --jobs"),
    ],
)
def test_bad_slurm_settings_are_one_line_before_anything_is_submitted(small_grid, capsys, args, message):
    code, stdout, stderr = run_cli(["sweep", small_grid, "--submit", "slurm", *args, "--dry-run"], capsys)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(f"error: {small_grid}: ") or stderr.startswith("error: --")
    assert "would submit" not in stdout


def test_slurm_options_need_submit(small_grid, capsys):
    code, _, stderr = run_cli(["sweep", small_grid, "--partition", "gpu", "--dry-run"], capsys)
    assert code == 2 and "--partition: a Slurm setting, for --submit slurm only" in stderr


def test_stage_runs_one_stage_and_what_it_needs(small_grid, capsys, tmp_path):
    out = tmp_path / "out"
    code, stdout, _ = run_cli(["sweep", small_grid, "--output-dir", out, "--dry-run"], capsys)
    listed = [line.split() for line in stdout.splitlines() if line.startswith("  stages[")]
    target = next(words[3] for words in listed if words[1] == "target")
    code, stdout, stderr = run_cli(["sweep", small_grid, "--output-dir", out, "--stage", target], capsys)
    assert code == 0, stderr
    assert "1 pipelines, 2 distinct stages" in stdout  # the pipeline cut after its target stage
    assert stdout.count("running ->") == 2 and "evaluate" not in stdout.split("distinct stages")[1]
    assert len(list(out.glob("*/COMPLETE"))) == 2
    code, _, stderr = run_cli(["sweep", small_grid, "--output-dir", out, "--stage", "0badf00d"], capsys)
    assert code == 2 and "--stage 0badf00d: no stage of" in stderr and "has this fingerprint" in stderr
    code, usage, _ = run_cli(["sweep", "--help"], capsys)
    assert code == 0 and "--jobs" in usage and "--stage" not in usage  # what Slurm jobs run, not for users


def test_status_of_a_local_run(small_grid, capsys, tmp_path, monkeypatch):
    out = tmp_path / "out"
    train = TrainingStageRunner.run

    def fail_on_topics(self, stage, context):
        if stage.settings["tasks"] == ["topics"]:
            raise RunFailed("loss became nan at step 1 (topics)\nmore detail")
        return train(self, stage, context)

    monkeypatch.setattr(TrainingStageRunner, "run", fail_on_topics)
    code, _, _ = run_cli(["sweep", small_grid, "--output-dir", out], capsys)
    assert code == 1
    (out / "stopped-0123abcd" / "checkpoints" / "step-3").mkdir(parents=True)  # as a killed run leaves
    code, stdout, _ = run_cli(["status", out], capsys)
    assert code == 0
    # (the tiny stages may be flagged as having learned nothing: a suffix)
    assert stdout.splitlines()[0].startswith(f"{out}: 6 stages: 3 complete, 1 failed, 1 blocked, 1 stopped")
    rows = {line.split()[2]: line.split(None, 6) for line in stdout.splitlines()[2:]}
    failed = next(row for row in rows.values() if row[0] == "failed")
    assert failed[1] == "target" and stdout.count("loss became nan at step 1 (topics)") == 1
    assert "more detail" not in stdout
    blocked = next(row for row in rows.values() if row[0] == "blocked")
    assert blocked[1] == "evaluate" and f"needs target 'target' ({failed[2][-8:]})" in blocked[-1]
    assert rows["stopped-0123abcd"][0] == "stopped"

    monkeypatch.setattr(TrainingStageRunner, "run", train)
    code, _, _ = run_cli(["sweep", small_grid, "--output-dir", out], capsys)
    assert code == 0
    (out / "stopped-0123abcd" / "checkpoints" / "step-3" / "progress.json").write_text("{}")
    code, stdout, _ = run_cli(["status", out], capsys)
    assert stdout.splitlines()[0].startswith(f"{out}: 6 stages: 5 complete, 1 stopped")  # FAILED went with the rerun
    # in the order of the work (a stage after the one it starts from), with its pipeline, how long it
    # took, what it found, and where a stopped stage resumes
    rows = {line.split()[2]: line.split(None, 6) for line in stdout.splitlines()[2:]}
    order = list(rows)
    for entry in recorded_stages(out).values():
        upstream = recorded_stages(out).get(entry["upstream"] or "")
        assert upstream is None or order.index(upstream["folder"]) < order.index(entry["folder"])
    evaluate = next(row for row in rows.values() if row[1] == "evaluate" and row[3] == "mnli-xnli-s1")
    assert re.fullmatch(r"\d+s", evaluate[5]) and re.search(r"dev \d+\.\d, test \d+\.\d \(accuracy,", evaluate[6])
    intermediate = next(row for row in rows.values() if row[1] == "intermediate")
    assert intermediate[3] == "mnli-topics-s1,+1" and "best dev score" in intermediate[6]
    assert rows["stopped-0123abcd"][-1] == "resumes from step 3 when run again", stdout

    code, _, stderr = run_cli(["status", tmp_path / "nowhere"], capsys)
    assert code == 2 and "no such run folder" in stderr


def _write_rows(path, writer):
    for number in range(25):
        stage = f"evaluate-{writer}"
        row = dict(
            zip(SCORE_COLUMNS, ["p", "none", False, "xnli", writer, "test", f"l{number}", "accuracy", 1.5, stage])
        )
        shared = dict(row, seed=99, language="en", value=float(writer))  # every writer's version of one row
        upsert_scores(path, [row, shared], [stage])


def test_scores_stay_whole_with_many_writers_at_once(tmp_path):
    path = tmp_path / "scores.csv"
    writers = [multiprocessing.get_context("fork").Process(target=_write_rows, args=(path, w)) for w in range(8)]
    for process in writers:
        process.start()
    for process in writers:
        process.join()
        assert process.exitcode == 0
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 * 25 + 1  # nothing lost, nothing twice, the shared row once
    assert {(row["seed"], row["language"]) for row in rows} == {
        (str(w), f"l{n}") for w in range(8) for n in range(25)
    } | {("99", "en")}
    assert all(row["value"] for row in rows)
