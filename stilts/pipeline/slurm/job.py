"""What one Slurm job runs: one stage of a sweep, through the normal engine.

The job re-plans the sweep from its file and overrides and runs `stilts sweep --stage
<fingerprint>`: that stage (and any stage it needs that is not complete) for every pipeline that has
it, so checkpoints, resume, locks and scores.csv are those of a local run. With several GPUs the
stage runs under `accelerate launch`, on every node of the job with the rendezvous Slurm gives it
(submitit starts this function once per node). When Slurm warns of the time limit or a preemption,
submitit calls `checkpoint` and requeues the job: `checkpoint` first sends the stage SIGTERM, which
saves a checkpoint at its next step boundary and exits (`stilts.core.interrupts`), so the requeued job
resumes from there rather than from the stage's last periodic checkpoint.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

#: how long `StageJob.checkpoint` waits for the stage to save and exit: inside the 90 s between
#: Slurm's warning and its kill that submitit asks for (``--signal=USR2@90``), leaving time to requeue
STOP_WAIT_SECONDS = 60

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
        process = subprocess.Popen(command, env=self.environment(), preexec_fn=_ignore_warning_signal)
        _Running.process = process
        try:
            returncode = process.wait()
        except BaseException:  # submitit ends this process after a requeue: the stage goes with it
            process.kill()
            process.wait()
            raise
        finally:
            _Running.process = None
        if returncode != 0:
            raise RuntimeError(f"stage {self.fingerprint[:8]} exited with code {returncode} (see the lines above)")
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
        """Requeue the same job, once the stage has saved a checkpoint at its next step boundary and
        exited (or `STOP_WAIT_SECONDS` have passed): it resumes from there."""
        from submitit.helpers import DelayedSubmission

        if _Running.process is not None:
            stop_and_wait(_Running.process.pid, STOP_WAIT_SECONDS)
        return DelayedSubmission(self)


class _Running:
    #: the stage process of this job, while it runs (`StageJob.checkpoint` runs in submitit's signal
    #: handler, in the middle of `StageJob.__call__` waiting for it)
    process: subprocess.Popen | None = None


def stop_and_wait(pid: int, timeout: float) -> bool:
    """Send the child ``pid`` SIGTERM and wait up to ``timeout`` seconds for it to exit; whether it did.
    The child is not reaped (``WNOWAIT``): the `subprocess.Popen` waiting for it, which this may
    interrupt from a signal handler, holds the lock that reaping through it would need."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.2)
    return False


def _ignore_warning_signal() -> None:
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
