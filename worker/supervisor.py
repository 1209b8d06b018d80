"""``--processes K``: K independent worker processes on this node, BLAS threads split
between them, a crashed child restarted with backoff.

Children are fresh interpreters (``python -m worker.cli``, no fork), each in its own
session so a terminal's Ctrl-C reaches only the supervisor, which forwards it once as
SIGTERM (twice: the children exit at once). Children watch the supervisor's pid and stop
when it disappears.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from worker.processes import stop_processes
from worker.progress import Progress

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
FINAL_EXITS = frozenset({0, 2, 3})  # done, bad usage, refused by the server: never restarted
STABLE_SECONDS = 60.0  # a child that ran this long before crashing starts a fresh backoff
MAX_RESTART_DELAY = 60.0
STOP_TIMEOUT = 30.0


def cpu_count() -> int:
    """Cores this process may run on (respects taskset/cpusets)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def limit_blas(threads: int) -> int:
    """Cap this process's BLAS/OpenMP pools at ``threads``; returns the largest pool size."""
    import numpy  # noqa: F401  (loads BLAS so threadpoolctl can find it)
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=threads)
    return max((pool["num_threads"] for pool in threadpool_info()), default=threads)


def describe_exit(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


@dataclass
class Child:
    """One worker process slot; ``argv`` is the command of the process it runs."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    crashes: int = 0
    restart_at: float | None = None
    exit_code: int | None = None  # set once the slot is finished for good


class Supervisor:
    """Starts the children, restarts crashed ones, forwards stop signals."""

    def __init__(self, children: list[Child], env: dict[str, str], progress: Progress) -> None:
        self.children, self.env, self.progress = children, env, progress
        self.signals = 0
        self.last_signal = 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signals += 1
        self.last_signal = signum
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)

    def _start(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.argv, env=self.env, start_new_session=True)
        child.started, child.restart_at = time.monotonic(), None

    def _exited(self, child: Child, code: int) -> None:
        child.proc = None
        if self.signals or code in FINAL_EXITS:
            child.exit_code = code
            level = "info" if code == 0 or self.signals else "error"
            self.progress.event("child_exit", f"{child.name} exited ({describe_exit(code)})",
                                level=level, child=child.name, code=code)
            return
        ran = time.monotonic() - child.started
        child.crashes = 1 if ran >= STABLE_SECONDS else child.crashes + 1
        delay = min(MAX_RESTART_DELAY, 2.0 ** (child.crashes - 1))
        child.restart_at = time.monotonic() + delay
        self.progress.event("child_crashed", f"{child.name} died ({describe_exit(code)}); "
                            f"restarting in {delay:.0f}s", level="warning", child=child.name,
                            code=code)

    def _tick(self, child: Child) -> None:
        if child.proc is not None:
            code = child.proc.poll()
            if code is not None:
                self._exited(child, code)
        elif child.exit_code is None:
            if self.signals:  # it was waiting to be restarted
                child.exit_code = 0
            elif time.monotonic() >= (child.restart_at or 0.0):
                self._start(child)

    def run(self) -> int:
        """Supervise until every child is done; 0 unless a child failed for good."""
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for child in self.children:
                self._start(child)
            while any(child.exit_code is None for child in self.children):
                for child in self.children:
                    self._tick(child)
                time.sleep(0.2)
        finally:
            self._stop_all()
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        if self.signals:
            return 128 + self.last_signal if self.signals >= 2 else 0
        return max(child.exit_code or 0 for child in self.children)

    def _stop_all(self) -> None:
        """Make sure no child outlives the supervisor (it only matters on errors)."""
        stop_processes((c.proc for c in self.children if c.proc is not None), STOP_TIMEOUT)


def supervise(processes: int, threads: int, child_argv: Callable[[int, int], list[str]],
              names: Callable[[int], str], token: str | None, progress: Progress) -> int:
    """Run ``processes`` children, each given ``threads`` BLAS threads."""
    env = {**os.environ, **dict.fromkeys(THREAD_ENV, str(threads))}
    if token:
        env["HPSEARCH_TOKEN"] = token  # not on the command line, where ps shows it
    children = [Child(names(i), [sys.executable, "-m", "worker.cli", *child_argv(i, threads)])
                for i in range(processes)]
    progress.event("supervisor", f"starting {processes} worker processes with {threads} BLAS "
                   f"thread{'s' if threads > 1 else ''} each", processes=processes,
                   threads=threads, pid=os.getpid())
    return Supervisor(children, env, progress).run()
