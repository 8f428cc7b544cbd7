"""`stilts sweep --submit slurm`: the sweep's unique stages as a DAG of Slurm jobs, via submitit.

A stage is one job; its job starts only after the job of the stage whose model it starts from ended
well (``afterok``; ``--kill-on-invalid-dep`` cancels it if that one failed). Stages that are
complete are not submitted, nor those whose job is still queued or running (their dependents wait
on that job). Independent stages of one kind that wait for the same job (the nine targets of one
intermediate model) go out as one job array. Every request is checked with ``sbatch --test-only``
before anything is submitted.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from stilts.core.errors import BadInput, RunFailed
from stilts.pipeline.preflight import stages_to_run
from stilts.pipeline.slurm.job import StageJob
from stilts.pipeline.slurm.queue import queued_jobs
from stilts.pipeline.slurm.records import LOGS_FOLDER, job_records, record_jobs
from stilts.pipeline.slurm.settings import JobResources, SlurmConfig, resources_for, time_in_minutes
from stilts.pipeline.stage_kinds import STAGE_KINDS, PlannedStage


@dataclass
class StageJobPlan:
    stage: PlannedStage
    resources: JobResources
    #: the stage whose job this one waits for (None: it can start at once)
    after: PlannedStage | None
    #: how many jobs come before it on its longest chain (jobs of one depth are submitted together)
    depth: int
    #: the pipelines that have the stage
    pipelines: list[str]
    #: more stages whose jobs it waits for: the other models an `average` stage combines
    also_after: tuple[PlannedStage, ...] = ()

    @property
    def waits_for(self) -> tuple[PlannedStage, ...]:
        return ((self.after,) if self.after else ()) + self.also_after


@dataclass
class JobDag:
    jobs: list[StageJobPlan]
    #: stages already complete, and stages whose job is queued or running (fingerprint -> job id)
    complete: int
    queued: dict[str, str]
    #: queued jobs that can never start (their dependency failed): cancelled and submitted again
    stuck: dict[str, str]

    def arrays(self) -> list[list[StageJobPlan]]:
        """The jobs in submission order, grouped into arrays: one depth after the other; within one,
        the stages of one kind and request that wait for the same stage."""
        groups: dict[tuple, list[StageJobPlan]] = defaultdict(list)
        for job in self.jobs:
            key = (job.depth, job.stage.kind, job.resources, tuple(stage.fingerprint for stage in job.waits_for))
            groups[key].append(job)
        return list(groups.values())


def job_dag(
    plans: list[tuple[str, list[PlannedStage]]], config: SlurmConfig | None, source: str, active: dict[str, str]
) -> JobDag:
    """The jobs a sweep's (pipeline name, stages) need, given the stages' jobs Slurm still has
    queued or running (``active``: fingerprint -> job id)."""
    unique: dict[str, PlannedStage] = {}
    needed: dict[str, PlannedStage] = {}
    users: dict[str, list[str]] = defaultdict(list)
    for pipeline_name, stages in plans:
        for stage in stages:
            unique.setdefault(stage.fingerprint, stage)
            users[stage.fingerprint].append(pipeline_name)
        for stage in stages_to_run(stages):
            needed.setdefault(stage.fingerprint, stage)
    resources: dict[str, JobResources] = {}
    jobs: dict[str, StageJobPlan] = {}
    queued = {}
    for fingerprint, stage in needed.items():
        if fingerprint in active:
            queued[fingerprint] = active[fingerprint]
            continue
        kind = STAGE_KINDS.get(stage.kind)
        if stage.kind not in resources:
            try:
                resources[stage.kind] = resources_for(config, stage.kind, kind.produces_model)
            except ValueError as error:
                raise BadInput(f"{source}: slurm.{error}") from None
        waits = [each for each in stage.needs if each.fingerprint in needed]
        after = waits[0] if waits and waits[0] is stage.upstream else None
        also = tuple(each for each in waits if each is not after)
        depth = max((jobs[each.fingerprint].depth + 1 for each in waits if each.fingerprint in jobs), default=0)
        jobs[fingerprint] = StageJobPlan(stage, resources[stage.kind], after, depth, users[fingerprint], also)
    complete = sum(fingerprint not in needed for fingerprint in unique)
    return JobDag(sorted(jobs.values(), key=lambda job: job.depth), complete, queued, {})


def active_jobs(run_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The run's recorded jobs Slurm still has: (fingerprint -> job id of those that will run,
    fingerprint -> job id of those that never will)."""
    records = job_records(run_dir)
    if not records:
        return {}, {}
    queue = queued_jobs()
    active: dict[str, str] = {}
    stuck: dict[str, str] = {}
    for fingerprint, record in records.items():
        job = queue.get(record["job_id"])
        if job is not None:
            (active if job.will_run else stuck)[fingerprint] = job.job_id
    return active, stuck


def submitit_parameters(resources: JobResources) -> dict:
    """The request as parameters of submitit's SlurmExecutor, each an sbatch flag (``_`` for ``-``)
    but ``setup`` (shell lines) and ``additional_parameters`` (flags submitit has no name for)."""
    return {
        "partition": resources.partition,
        "account": resources.account,
        "qos": resources.qos,
        "time": time_in_minutes(resources.time),
        "nodes": resources.nodes_per_job,
        "ntasks_per_node": 1,
        "cpus_per_task": resources.cpus_per_job,
        "gpus_per_node": resources.gpus_per_node or None,
        "setup": list(resources.setup) or None,
        # submitit's own `mem` takes gigabytes as a number; sbatch's takes "64G"
        "additional_parameters": {
            "kill-on-invalid-dep": "yes",
            **({"mem": resources.mem} if resources.mem else {}),
            **{flag: value for flag, value in resources.sbatch if value is not False},
        },
    }


def sbatch_flags(resources: JobResources) -> list[str]:
    """The same request as sbatch command-line flags (for ``sbatch --test-only``)."""
    parameters = submitit_parameters(resources)
    flags = {
        name.replace("_", "-"): value
        for name, value in parameters.items()
        if name not in ("setup", "additional_parameters") and value is not None
    }
    flags.update(parameters["additional_parameters"])
    return [f"--{flag}" if value is True else f"--{flag}={value}" for flag, value in flags.items()]


def check_requests(dag: JobDag, source: str) -> None:
    """Ask Slurm whether it would take each distinct request (sbatch --test-only), before submitting."""
    if shutil.which("sbatch") is None:
        raise BadInput("--submit slurm: sbatch is not on PATH (run it where Slurm's commands are, a login node)")
    checked = set()
    for job in dag.jobs:
        if job.resources in checked:
            continue
        checked.add(job.resources)
        done = subprocess.run(
            ["sbatch", "--test-only", *sbatch_flags(job.resources), "--wrap=true"], capture_output=True, text=True
        )
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if "error" in line.lower()] or done.stderr.splitlines()
            why = lines[0].replace("sbatch: error: ", "") if lines else f"exit code {done.returncode}"
            raise BadInput(
                f"{source}: slurm: Slurm refuses the request of the {job.stage.kind} jobs "
                f"({job.resources.describe()}): {why.strip()}"
            )


def submit(dag: JobDag, *, sweep_file: Path, overrides: tuple[str, ...], run_dir: Path, run_name: str) -> int:
    """Submit every job of ``dag``, recording each group as soon as Slurm took it. Returns the
    number of jobs submitted."""
    try:
        import submitit
    except ImportError:
        raise BadInput('--submit slurm needs submitit: pip install -e ".[slurm]"') from None
    from stilts.pipeline.slurm.queue import cancel

    cancel(list(dag.stuck.values()))
    executor = submitit.SlurmExecutor(folder=run_dir / LOGS_FOLDER / "%j")
    job_ids = dict(dag.queued)
    submitted = 0
    for group in dag.arrays():
        first = group[0]
        resources = first.resources
        waits = [job_ids[stage.fingerprint] for stage in first.waits_for]
        dependency = f"afterok:{':'.join(waits)}" if waits else None
        executor.update_parameters(
            job_name=f"{run_name}:{first.stage.name}" + ("" if len(group) > 1 else f"-{first.stage.fingerprint[:8]}"),
            dependency=dependency,
            **submitit_parameters(resources),
        )
        calls = [
            StageJob(
                sweep_file=str(sweep_file),
                overrides=overrides,
                run_dir=str(run_dir),
                fingerprint=job.stage.fingerprint,
                gpus_per_node=resources.gpus_per_node,
                nodes=resources.nodes_per_job,
            )
            for job in group
        ]
        try:
            if len(calls) == 1:
                handles = [executor.submit(calls[0])]
            else:
                with executor.batch():
                    handles = [executor.submit(call) for call in calls]
        except subprocess.CalledProcessError as error:
            raise RunFailed(
                f"sbatch refused the {first.stage.kind} jobs after {submitted} were submitted ({error}); "
                "the submitted ones are recorded: submit again to add the rest"
            ) from None
        now = datetime.datetime.now().isoformat(timespec="seconds")
        records = {}
        for job, handle in zip(group, handles):
            job_ids[job.stage.fingerprint] = handle.job_id
            records[job.stage.fingerprint] = {
                "job_id": handle.job_id,
                "name": job.stage.name,
                "kind": job.stage.kind,
                "submitted": now,
                "after": dependency,
                "stdout": str(handle.paths.stdout),
                "stderr": str(handle.paths.stderr),
            }
        record_jobs(run_dir, records)
        submitted += len(group)
    return submitted


def describe_dag(dag: JobDag) -> list[str]:
    """The job DAG, one line per job (for a dry run)."""
    lines = []
    for number, group in enumerate(dag.arrays(), start=1):
        array = f" (array {number}, {len(group)} jobs)" if len(group) > 1 else ""
        for job in group:
            after = "at once"
            waits = job.waits_for
            if waits:
                after = "after " + " and ".join(f"{each.kind} '{each.name}' ({each.fingerprint[:8]})" for each in waits)
            queued = [dag.queued[each.fingerprint] for each in waits if each.fingerprint in dag.queued]
            if queued:
                after += f", queued job{'s' if len(queued) > 1 else ''} {', '.join(queued)}"
            used = job.pipelines[0] + (f" +{len(job.pipelines) - 1}" if len(job.pipelines) > 1 else "")
            lines.append(
                f"  {job.stage.kind:<12} {job.stage.fingerprint[:8]}  {job.resources.describe()}; {after}{array}"
                f"  [{used}]"
            )
    return lines


def submit_sweep(
    config, plans: list[tuple[str, list[PlannedStage]]], sweep_file: Path, overrides, run_dir: Path, dry_run: bool
):
    """Submit what the sweep still needs (or, for a dry run, print the job DAG)."""
    import click

    source = str(sweep_file)
    active, stuck = active_jobs(run_dir)  # ({}, {}) for a run folder without jobs: no Slurm asked
    dag = job_dag(plans, config.slurm, source, active)
    dag.stuck = stuck
    arrays = sum(len(group) > 1 for group in dag.arrays())
    plural = "" if arrays == 1 else "s"
    summary = (
        f"{len(dag.jobs)} jobs ({arrays} job array{plural}); {dag.complete} stages already complete, "
        f"{len(dag.queued)} already queued or running"
    )
    if dry_run:
        click.echo(f"slurm: would submit {summary}")
        for kind in STAGE_KINDS.names():
            of_kind = [job for job in dag.jobs if job.stage.kind == kind]
            if of_kind:
                click.echo(f"  {kind}: {len(of_kind)} jobs, {of_kind[0].resources.describe()} each")
        for line in describe_dag(dag):
            click.echo(line)
        return
    if not dag.jobs:
        click.echo(f"slurm: nothing to submit; {dag.complete} stages complete, {len(dag.queued)} queued or running")
        return
    check_requests(dag, source)
    submitted = submit(dag, sweep_file=sweep_file, overrides=overrides, run_dir=run_dir, run_name=config.name)
    click.echo(f"slurm: submitted {summary.replace(str(len(dag.jobs)), str(submitted), 1)}")
    click.echo(f"  watch: stilts status {run_dir}    logs: {run_dir / LOGS_FOLDER}")
