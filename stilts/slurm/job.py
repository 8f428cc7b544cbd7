"""What one Slurm job runs: one stage of a sweep, through the normal engine.

The job re-plans the sweep from its file and overrides and runs `stilts sweep --stage
<fingerprint>`: that stage (and any stage it needs that is not complete) for every pipeline that has
it, so checkpoints, resume, locks and scores.csv are those of a local run. With several GPUs the
stage runs under `accelerate launch`, on every node of the job with the rendezvous Slurm gives it
(submitit starts this function once per node). When Slurm warns of the time limit or a preemption,
submitit calls `checkpoint` and requeues the job; the requeued job resumes the stage from its last
checkpoint.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field

#: the first rendezvous port of multi-node jobs; a job adds its id modulo 1000, so that two jobs that
#: share a head node do not collide
RENDEZVOUS_PORT = 29500


@dataclass(frozen=True)
class StageJob:
    sweep_file: str
    overrides: tuple[str, ...]
    run_dir: str
    fingerprint: str
    gpus_per_node: int
    nodes: int
    python: str = field(default_factory=lambda: sys.executable)

    def command(self, node_rank: int = 0, head_node: str = "", job_id: str = "0") -> list[str]:
        """The command line one node of the job runs."""
        stilts = ["-m", "stilts", "sweep", self.sweep_file, "--output-dir", self.run_dir, "--stage", self.fingerprint]
        for override in self.overrides:
            stilts += ["--set", override]
        processes = self.gpus_per_node * self.nodes
        if processes <= 1:
            return [self.python, *stilts]
        launch = [self.python, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes)]
        launch += ["--num_machines", str(self.nodes), "--machine_rank", str(node_rank)]
        if self.nodes > 1:
            port = RENDEZVOUS_PORT + int(job_id.split("_")[0]) % 1000
            launch += ["--main_process_ip", head_node, "--main_process_port", str(port)]
        return launch + stilts

    def __call__(self) -> str:
        import submitit

        environment = submitit.JobEnvironment()
        command = self.command(environment.node, environment.hostnames[0], environment.job_id)
        print(f"stilts job {environment.job_id}, node {environment.node}: {shlex.join(command)}", flush=True)
        # the stage ignores Slurm's warning signal: submitit (this process) handles it and requeues
        done = subprocess.run(command, env=self.environment(), preexec_fn=_ignore_warning_signal)
        if done.returncode != 0:
            raise RuntimeError(f"stage {self.fingerprint[:8]} exited with code {done.returncode} (see the lines above)")
        return self.fingerprint

    def environment(self, slurm_environment: dict[str, str] | None = None) -> dict[str, str]:
        """The job's environment, with each process's CPU threads set to its share of the cores Slurm
        allocated (unless OMP_NUM_THREADS is set already): torch otherwise starts a thread per core of
        the node, and jobs sharing a node slow each other down several times over."""
        environment = dict(os.environ if slurm_environment is None else slurm_environment)
        cores = environment.get("SLURM_CPUS_PER_TASK") or environment.get("SLURM_CPUS_ON_NODE")
        if cores and cores.isdigit() and "OMP_NUM_THREADS" not in environment:
            environment["OMP_NUM_THREADS"] = str(max(1, int(cores) // max(1, self.gpus_per_node)))
        return environment

    def checkpoint(self, *args, **kwargs):
        """Requeue the same job: the stage's checkpoints make it resume where it was."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)


def _ignore_warning_signal() -> None:
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
