"""`stilts sweep --jobs N`: the pipelines of a sweep in N worker processes at once.

Each worker runs one pipeline at a time, on its own GPU when there are GPUs (round-robin over
``CUDA_VISIBLE_DEVICES`` or every device torch sees), else on its share of the CPU cores. Its output
goes to ``<run_dir>/logs/<pipeline>.log``; the terminal gets one line when a pipeline starts and one
when it ends. The scheduler never starts a pipeline whose unfinished stages a running pipeline is
working on (it waits for that stage and then reuses it), and the engine's stage lock keeps anything
else that shares the run folder out of a stage that is being run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click


@dataclass(frozen=True)
class SweepRequest:
    """What a worker needs to rebuild the sweep's pipelines by itself (it is pickled to the worker)."""

    sweep_file: Path
    overrides: tuple[str, ...]
    run_dir: Path
    model_path: str
    detect_anomaly: bool


def log_path(run_dir: Path, pipeline_name: str) -> Path:
    return run_dir / "logs" / f"{pipeline_name}.log"


def visible_gpus() -> list[str]:
    """The GPUs to spread workers over: the entries of ``CUDA_VISIBLE_DEVICES``, else every device."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [entry.strip() for entry in listed.split(",") if entry.strip()]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]


def run_parallel(request: SweepRequest, plans: list, jobs: int) -> list[tuple[str, str, str]]:
    """Run ``plans`` ([(pipeline, stages, data sources)], in the sweep's order) in ``jobs`` workers;
    returns (pipeline name, "done" | "reused" | "failed", reason) in the sweep's order."""
    gpus = visible_gpus()
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters: no CUDA state or locks inherited
    tasks, results = spawn.Queue(), spawn.Queue()

    def start(slot: int):
        # not a daemon: a stage may start processes of its own (a DataLoader's workers, say)
        process = spawn.Process(target=_worker, args=(slot, jobs, gpus, request, tasks, results))
        process.start()
        return process

    threads = max(1, (os.cpu_count() or 1) // jobs)
    where = f"over {len(gpus)} GPUs" if gpus else f"{threads} CPU thread{'s' if threads > 1 else ''} each"
    click.echo(f"running {len(plans)} pipelines in {jobs} processes ({where}); logs in {request.run_dir / 'logs'}")
    workers = {slot: start(slot) for slot in range(jobs)}
    pending = list(range(len(plans)))
    running: dict[int, int | None] = {}  # pipeline index -> worker slot (None: not picked up yet)
    started: dict[int, float] = {}
    failed_stages: dict[str, str] = {}
    outcomes: dict[int, tuple[str, str]] = {}
    deaths: list = []

    def finish(index: int, status: str, reason: str = "") -> None:
        outcomes[index] = (status, reason)
        running.pop(index, None)
        name = plans[index][0].name
        took = f" in {duration(time.monotonic() - started[index])}" if index in started else ""
        line = f"[{len(outcomes)}/{len(plans)}] {name}: {status}{took}"
        click.echo(f"{line}: {reason} (log: {log_path(request.run_dir, name)})" if status == "failed" else line)

    from stilts.core.interrupts import Interrupted
    from stilts.pipeline.engine import duration

    try:
        while pending or running:
            while pending and len(running) < jobs:
                index = _next_pipeline(pending, running, plans, failed_stages, finish)
                if index is None:
                    break
                pending.remove(index)
                running[index] = None
                tasks.put(index)
            try:
                message = results.get(timeout=1.0)
            except queue.Empty:
                _replace_dead_workers(workers, running, start, finish, deaths)
                continue
            if message[0] == "started":
                _, index, slot = message
                running[index], started[index] = slot, time.monotonic()
                device = f"GPU {gpus[slot % len(gpus)]}" if gpus else "CPU"
                click.echo(f"started {plans[index][0].name} (worker {slot}, {device})")
            else:
                _, index, status, reason, failed_fingerprint = message
                if failed_fingerprint:
                    failed_stages[failed_fingerprint] = reason
                finish(index, status, reason)
    except Interrupted as stop:
        # the workers got a Ctrl-C from the terminal too, but not a kill sent to this process alone:
        # SIGTERM makes each save at its next step boundary, as the signal does (stilts.core.interrupts)
        for process in workers.values():
            if process.is_alive():
                process.terminate()
        for process in workers.values():
            process.join()
        stop.detail = (
            f"the running pipelines stopped, each saying what it kept in its log in {request.run_dir / 'logs'}; "
            "run the same command again to resume them"
        )
        raise
    finally:
        for _ in workers:
            tasks.put(None)
        for process in workers.values():
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    return [(plans[i][0].name, *outcomes[i]) for i in range(len(plans))]


def _next_pipeline(pending, running, plans, failed_stages, finish):
    """The first pending pipeline that shares no unfinished stage with a running one (it would only
    wait for that stage); pipelines that need a stage which failed are settled on the way."""
    from stilts.pipeline.engine import blocking_failure

    busy = {s.fingerprint for index in running for s in plans[index][1] if not s.complete}
    for index in list(pending):
        stages = plans[index][1]
        blocked = blocking_failure(stages, failed_stages)
        if blocked:
            pending.remove(index)
            finish(index, "failed", blocked)
            continue
        if not busy.intersection(s.fingerprint for s in stages if not s.complete):
            return index
    return None


#: worker processes that may die (killed for memory, say) before the sweep gives up
MAX_WORKER_DEATHS = 5


def _replace_dead_workers(workers, running, start, finish, deaths: list) -> None:
    """A worker killed from outside (out of memory, a signal) fails its pipeline; a new one takes its
    place, unless workers keep dying."""
    from stilts.core.errors import RunFailed

    for slot, process in list(workers.items()):
        if process.is_alive():
            continue
        deaths.append(process.exitcode)
        if len(deaths) > MAX_WORKER_DEATHS:
            raise RunFailed(
                f"sweep: {len(deaths)} worker processes died (exit codes {deaths}); see the pipelines' logs"
            )
        lost = next((index for index, owner in running.items() if owner == slot), None)
        if lost is not None:
            finish(lost, "failed", f"its worker process died (exit code {process.exitcode})")
        workers[slot] = start(slot)


def _worker(slot: int, jobs: int, gpus: list[str], request: SweepRequest, tasks, results) -> None:
    if gpus:  # before torch is imported: this process sees one GPU, as cuda:0
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    import torch

    if not gpus:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // jobs))
    from stilts.core.interrupts import Interrupted, handling_signals
    from stilts.pipeline.sweep import expand, load_sweep

    config, base_dir = load_sweep(request.sweep_file, request.overrides)
    pipelines = expand(config, str(request.sweep_file))
    with handling_signals():
        try:
            _work(slot, request, pipelines, base_dir, tasks, results)
        except Interrupted as stop:  # said in the pipeline's log (`_work`)
            sys.exit(stop.exit_code)


def _work(slot: int, request: SweepRequest, pipelines, base_dir, tasks, results) -> None:
    """Run the pipelines the scheduler hands this worker, until it hands None."""
    from stilts.core.interrupts import Interrupted
    from stilts.pipeline.engine import plan_pipeline
    from stilts.pipeline.local import run_sweep_pipeline

    context = None
    while (index := tasks.get()) is not None:
        pipeline = pipelines[index]
        results.put(("started", index, slot))
        stages, data_sources = plan_pipeline(
            pipeline, base_dir, request.run_dir, f"{request.sweep_file}: {pipeline.name}"
        )
        with _output_to(log_path(request.run_dir, pipeline.name)):
            print(f"=== {pipeline.name} ({time.strftime('%Y-%m-%d %H:%M:%S')}, worker {slot})", flush=True)
            try:
                context, status, reason, failed_fingerprint = run_sweep_pipeline(
                    context, pipeline, stages, data_sources, request.model_path, request.run_dir, request.detect_anomaly
                )
            except Interrupted as stop:
                print(str(stop), file=sys.stderr, flush=True)
                raise
            if failed_fingerprint:
                print(f"error: {reason}", file=sys.stderr, flush=True)
        results.put(("finished", index, status, reason, failed_fingerprint))


@contextlib.contextmanager
def _output_to(path: Path):
    """Everything this process writes to stdout and stderr (progress bars, library output) goes to
    ``path`` for the block, appended: a resumed sweep adds to the same log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {descriptor: os.dup(descriptor) for descriptor in (1, 2)}
    with open(path, "a", encoding="utf-8") as log:
        for descriptor in saved:
            os.dup2(log.fileno(), descriptor)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for descriptor, copy in saved.items():
                os.dup2(copy, descriptor)
                os.close(copy)
