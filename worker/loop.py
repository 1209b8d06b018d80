"""The worker loop: claim a trial, run it under a background heartbeat, report every step,
finish it; poll with backoff while the queue is empty. The protocol itself is
``hpsearch.lease``; this adds the worker's signals, polling and progress lines.

Signals: the first SIGTERM/SIGINT lets the current epoch end, releases the trial back to
the queue and exits 0; a second one exits at once (releasing the trial if the server
answers within a second or two). A lost lease (409) interrupts the trial's work at once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

from hpsearch import lease as protocol
from hpsearch.http import ApiClient, ApiError, Unreachable
from hpsearch.lease import EmptyQueue, Lease, poll_delay
from worker.heartbeat import LEASE_LOST_SIGNAL, LeaseLost, interrupt_main
from worker.progress import Progress
from worker.runner import Outcome, Runner, Task, TaskError, failure_reason

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
AUTH_STATUSES = frozenset({401, 403})
EXIT_FATAL = 3


class Abandoned(BaseException):
    """The server stayed unreachable mid-trial; the trial returns when its lease expires."""


class Interrupted(BaseException):
    """A second stop signal: leave now."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Fatal(Exception):
    """The server refuses this worker (bad token, bad options): retrying cannot help."""


@dataclass(frozen=True)
class Options:
    server: str
    token: str | None
    name: str
    studies: tuple[int, ...] = ()
    objective: str | None = None
    max_trials: int | None = None
    idle_exit: float | None = None
    poll_max: float = 10.0
    retry_seconds: float = 300.0
    processes: int = 1  # how many worker processes this node runs (registered)
    parent: int | None = None  # the supervisor's pid: stop when it goes away
    blas_threads: int | None = None  # as limited at start (shown, not enforced here)


class Worker:
    """One worker process's claim/train/report/finish loop."""

    def __init__(self, options: Options, progress: Progress,
                 runner: Runner | None = None) -> None:
        self.options = options
        self.progress = progress
        self.runner = runner or Runner(options.objective)
        self.stopping = threading.Event()
        self.api = ApiClient(options.server, options.token, retry_seconds=options.retry_seconds,
                             cancel=self.stopping, on_retry=self._retrying,
                             max_delay=options.poll_max)
        self.signals = 0
        self.task: Task | None = None
        self.in_work = False
        self.lost: int | None = None
        self.trials = 0

    # -- signals ---------------------------------------------------------------------------

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals == 1:  # Event.set takes a lock: never from a signal handler
            threading.Thread(target=self.stopping.set, daemon=True).start()
        elif self.signals == 2:
            raise Interrupted(signum)

    def _on_lease_lost(self, _signum: int, _frame: FrameType | None) -> None:
        if self.in_work and self.task is not None and self.lost == self.task.id:
            raise LeaseLost

    def _lease_lost(self, trial_id: int) -> None:
        """Called from the heartbeat thread: interrupt the main thread's work now."""
        self.lost = trial_id
        interrupt_main()

    def _heartbeat_warning(self, kind: str, message: str) -> None:
        self.progress.event(kind, message, level="warning",
                            trial=self.task.id if self.task else None)

    def _watch_parent(self, done: threading.Event) -> None:
        while not done.wait(1.0):
            if os.getppid() != self.options.parent:
                self.progress.event("orphaned", "supervisor is gone; stopping", level="warning")
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
                return

    def _retrying(self, attempt: int, problem: str) -> None:
        if attempt == 0 and self.task is not None:
            self.progress.event("retrying", f"{problem}; retrying for up to "
                                f"{self.options.retry_seconds:.0f}s", level="warning",
                                trial=self.task.id)

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> int:
        """Work until stopped, idle for too long or ``max_trials`` are done; the exit code."""
        previous = {s: signal.signal(s, self._on_stop_signal) for s in STOP_SIGNALS}
        previous[LEASE_LOST_SIGNAL] = signal.signal(LEASE_LOST_SIGNAL, self._on_lease_lost)
        done = threading.Event()
        if self.options.parent is not None:
            threading.Thread(target=self._watch_parent, args=(done,), daemon=True).start()
        try:
            self._loop()
            return 0
        except Interrupted as exc:
            self.progress.event("stopped", f"interrupted by signal {exc.signum}; exiting now")
            return 128 + exc.signum
        except Fatal as exc:
            self.progress.event("fatal", str(exc), level="error")
            return EXIT_FATAL
        finally:
            done.set()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.api.close()
            self.progress.close()

    def _loop(self) -> None:
        o = self.options
        self.progress.event("started", f"worker {o.name} (pid {os.getpid()}, "
                            f"{o.blas_threads} BLAS threads) pulling from {o.server}",
                            server=o.server, pid=os.getpid(), studies=list(o.studies),
                            objective=o.objective, blas_threads=o.blas_threads)
        registered = unreachable = waiting = False
        idle_since, polls = time.monotonic(), 0
        while not self.signals:
            lease: Lease | EmptyQueue | None = None
            try:
                if not registered:
                    self._register()
                    registered = True
                lease = self._claim()
                if unreachable:
                    self.progress.event("reconnected", f"server {o.server} is back")
                unreachable = False
            except Unreachable as exc:
                if not unreachable and not self.signals:
                    self.progress.event("unreachable", f"{exc}; retrying", level="warning")
                unreachable = True
            if not isinstance(lease, Lease):
                empty = lease or EmptyQueue()  # None: the server could not be reached
                coming = empty.work_coming
                if coming and not waiting:
                    self.progress.event("waiting", f"queue empty; {empty.running} trials "
                                        "still running in the studies served, waiting for "
                                        "the work they open")
                waiting = coming
                if coming:  # a stage is ending: its next stage is work, not idleness
                    idle_since = time.monotonic()
                idle = time.monotonic() - idle_since
                if o.idle_exit is not None and idle >= o.idle_exit:
                    self.progress.event("idle_exit", f"no work for {idle:.0f}s; exiting")
                    return
                delay = poll_delay(polls, o.poll_max)
                if coming and empty.retry_after is not None:
                    delay = min(delay, empty.retry_after)
                if o.idle_exit is not None:
                    delay = min(delay, o.idle_exit - idle + 0.01)
                polls += 1
                self.stopping.wait(delay)
                continue
            polls, waiting = 0, False
            self._run_trial(lease)
            self.trials += 1
            idle_since = time.monotonic()
            if o.max_trials is not None and self.trials >= o.max_trials:
                self.progress.event("max_trials", f"{self.trials} trials done; exiting")
                return
        self.progress.event("stopped", "stopped by signal")

    def _register(self) -> None:
        try:
            protocol.register(self.api, self.options.name, processes=self.options.processes)
        except ApiError as exc:
            if exc.status in AUTH_STATUSES:
                raise Fatal(f"the server refused this worker: {exc}") from None
            raise Fatal(f"cannot register: {exc}") from None

    def _claim(self) -> Lease | EmptyQueue:
        try:
            return Lease.claim(self.api, self.options.name, list(self.options.studies),
                               on_lost=self._lease_lost, on_warning=self._heartbeat_warning)
        except ApiError as exc:
            if exc.status in AUTH_STATUSES:
                raise Fatal(f"the server refused this worker: {exc}") from None
            raise Fatal(f"cannot claim trials: {exc}") from None

    # -- one trial ---------------------------------------------------------------------------

    def _run_trial(self, lease: Lease) -> None:
        self.task, self.lost = lease.task, None
        try:
            self._trial(lease)
        finally:
            self.task = None

    def _trial(self, lease: Lease) -> None:
        task = lease.task
        trial = _TrialReports(self, lease)
        self.progress.trial_started(task)
        lease.start_heartbeat()
        try:
            outcome = self._work(task, trial)
        except LeaseLost:
            self._end(lease, "dropped", "lease lost: another worker has this trial now")
            return
        except Abandoned:
            self._end(lease, "dropped", "server unreachable; the trial returns to the "
                      "queue when its lease expires")
            return
        except Interrupted:
            self._release(lease, "worker interrupted", quick=True)
            raise
        finally:
            lease.stop_heartbeat()
        if trial.shutdown:
            self._release(lease, "worker shutting down")
            self._end(lease, "released", "released back to the queue")
            return
        if lease.should_stop and outcome.state == "pruned":
            outcome = Outcome("pruned", outcome.metrics, lease.prune_reason())
        self._finish(lease, outcome)

    def _work(self, task: Task, trial: _TrialReports) -> Outcome:
        """Run the task; exceptions from the trial itself become a failed outcome."""
        try:
            self.in_work = True
            return self.runner.run(task, trial.send)
        except (Exception, SystemExit) as exc:
            if isinstance(exc, TaskError) and exc.detail:
                self.progress.event("task_error", f"trial {task.id}: {exc.detail}",
                                    level="warning", trial=task.id)
            return Outcome("failed", dict(trial.lease.last), failure_reason(exc))
        finally:
            self.in_work = False

    def _finish(self, lease: Lease, outcome: Outcome) -> None:
        try:
            lease.finish(outcome.state, outcome.metrics, outcome.reason)  # type: ignore[arg-type]
        except protocol.LeaseLost as exc:
            self._end(lease, "dropped", f"result lease lost: {exc}")
            return
        except ApiError as exc:
            self._end(lease, "dropped", f"result refused: {exc}")
            return
        except Unreachable as exc:
            self._end(lease, "dropped", f"could not send the result ({exc}); the trial "
                      "returns to the queue when its lease expires")
            return
        self.progress.trial_finished(lease.task, outcome.state, outcome.metrics, outcome.reason,
                                     lease.steps, time.monotonic() - lease.started)

    def _release(self, lease: Lease, reason: str, *, quick: bool = False) -> None:
        try:
            lease.release(reason, quick=quick)
        except (ApiError, Unreachable, protocol.LeaseLost) as exc:
            self.progress.event("release_failed", f"could not release trial {lease.task.id} "
                                f"({exc}); it returns to the queue when its lease expires",
                                level="warning", trial=lease.task.id)

    def _end(self, lease: Lease, state: str, reason: str) -> None:
        self.progress.trial_finished(lease.task, state, lease.last, reason, lease.steps,
                                     time.monotonic() - lease.started)


class _TrialReports:
    """Sends one trial's per-step reports through its lease; a stop signal asks the trial
    to stop at its next report (``shutdown``)."""

    def __init__(self, worker: Worker, lease: Lease) -> None:
        self.worker, self.lease = worker, lease
        self.shutdown = False

    def send(self, step: int, metrics: dict[str, Any]) -> bool:
        """Report ``step`` (retried; idempotent on the server); True means stop."""
        task = self.lease.task
        if self.shutdown or self.lease.should_stop:
            return True
        if self.worker.signals and step < task.epochs:
            self.shutdown = True
            return True
        try:
            stop = self.lease.report(step, metrics)
        except protocol.LeaseLost:
            raise LeaseLost from None
        except Unreachable as exc:
            raise Abandoned from exc
        self.worker.progress.epoch(task, step, metrics, time.monotonic() - self.lease.started)
        return stop
