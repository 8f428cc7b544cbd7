"""Stopping a run on SIGINT (Ctrl-C) or SIGTERM (``kill``, a scheduler ending a job) without losing it.

While a `stilts` command runs, both signals go to `_on_signal`. Inside a training loop (`deferred`)
a signal only records the request: the loop finishes the optimizer step it is in, saves a
checkpoint, and raises `Interrupted`, so the stage resumes from that step when the same command runs
again (`stilts.training.loop`). Anywhere else (loading, featurizing, evaluating) there is nothing
partial worth saving, and `Interrupted` is raised at once. The command line prints what was kept
and exits with 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as a shell reports a
process killed by it.

Signals after the first are ignored: the run is stopping already. They are no harder stop:
`accelerate launch` (torchrun) forwards the terminal's Ctrl-C to its workers, which got it from the
terminal too, and terminates the other workers when one exits; Slurm sends SIGTERM to every process
of a job it requeues; each would otherwise cut the checkpoint or the message short. ``kill -9``
stops at once, keeping the previous checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

#: the signals that stop a run, saving first
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A run stopped by a signal. A BaseException, like KeyboardInterrupt: the handlers that mark a
    stage failed or let a sweep go on with its other pipelines (``except Exception``) let it through.
    ``detail`` says what was kept; layers that know more (the training loop, the engine) extend it."""

    def __init__(self, signum: int, detail: str = ""):
        super().__init__(signum, detail)
        self.signum, self.detail = signum, detail

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return f"interrupted ({self.signal_name})" + (f": {self.detail}" if self.detail else "")


class _State:
    #: depth of nested `deferred` blocks in this process; 0: a signal raises at once
    deferring = 0
    #: the signal this process got, or stops for with the others (`StopVote`): set, the run is stopping
    requested: int | None = None


def _on_signal(signum: int, frame) -> None:
    if _State.requested is not None:  # stopping already
        return
    _State.requested = signum
    if not _State.deferring:
        raise Interrupted(signum)
    name = signal.Signals(signum).name
    # os.write, not print: the main thread may be inside a write to stderr, and a buffered stream
    # refuses a reentrant write from a signal handler
    os.write(2, f"\n{name}: stopping at the next optimizer step, saving a checkpoint first\n".encode())


@contextlib.contextmanager
def handling_signals():
    """SIGINT and SIGTERM stop the block's work through `Interrupted` (or at the next step boundary
    inside `deferred`); the previous handlers come back after it. Signal handlers belong to the main
    thread: elsewhere the block runs with the handlers as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _on_signal) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _State.requested = None


@contextlib.contextmanager
def deferred():
    """Inside, a stop signal is recorded for `requested` instead of raising: the caller stops at a
    point where it can save."""
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1


def requested() -> int | None:
    """The stop signal this process received, if any."""
    return _State.requested


class StopVote:
    """Whether the processes of a run stop at this step: all of them at the same one, so that they save
    one checkpoint together (a signal may reach one process only, or reach them at different steps).

    One process: its own request, read at each step. Several: each step every process adds its own
    request (the signal number, 0 for none) to an all-reduce (max) and acts on the previous step's
    result, which every process reads alike. On a GPU the result is copied to the host behind the
    step's work and waited for by an event one step later, when that work is done: reading it at once
    would make the host wait for the device at every step. The stop comes one step later instead.
    """

    def __init__(self, accelerator):
        self.accelerator = accelerator
        self.pending = None  # the all-reduce queued at the previous step: (result, event or None)

    def __call__(self) -> int | None:
        """The signal the run stops for at this step, or None to go on."""
        if self.accelerator.num_processes == 1:
            return requested()
        agreed, self.pending = self.pending, self._all_reduce()
        return self._read(agreed)

    def final(self) -> int | None:
        """At the end of the loop: whether any process was asked to stop since the last vote, read now,
        so that no process goes on to the next stage alone."""
        if self.accelerator.num_processes == 1:
            return requested()
        self.pending = None
        return self._read(self._all_reduce())

    def _all_reduce(self):
        import torch
        import torch.distributed as dist

        # torch.full fills on the device: no copy from the host to wait for
        local = torch.full((1,), requested() or 0, dtype=torch.int32, device=self.accelerator.device)
        dist.all_reduce(local, op=dist.ReduceOp.MAX)
        if local.device.type != "cuda":  # gloo: the all-reduce has finished already
            return local, None
        host = torch.empty(1, dtype=torch.int32, pin_memory=True)
        host.copy_(local, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        return host, done

    @staticmethod
    def _read(pending) -> int | None:
        if pending is None:
            return None
        value, done = pending
        if done is not None:
            done.synchronize()
        signum = int(value[0]) or None
        if signum and _State.requested is None:  # stopping for another process's signal: as if it were ours
            _State.requested = signum
        return signum
