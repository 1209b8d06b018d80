"""The worker loop: claim a trial, run it under a background heartbeat, report every step,
finish it; poll with backoff while the queue is empty.

Signals: the first SIGTERM/SIGINT lets the current epoch end, releases the trial back to
the queue and exits 0; a second one exits at once (releasing the trial if the server
answers within a second or two). A lost lease (409) interrupts the trial's work at once.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

from app import __version__
from worker.client import ApiClient, ApiError, Unreachable
from worker.heartbeat import LOST_STATUSES, Heartbeat
from worker.progress import Progress
from worker.runner import Outcome, Runner, Task, failure_reason

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
LEASE_LOST_SIGNAL = signal.SIGUSR1
AUTH_STATUSES = frozenset({401, 403})
EXIT_FATAL = 3
CLAIM_RETRY_SECONDS = 5.0
QUICK_RELEASE_SECONDS = 2.0


class LeaseLost(BaseException):
    """The server gave this worker's trial to someone else (raised in the main thread)."""


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


def poll_delay(attempt: int, cap: float) -> float:
    """Exponential backoff from 0.25 s up to ``cap``, with jitter."""
    return min(cap, 0.25 * 2**attempt) * random.uniform(0.5, 1.0)


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
        signal.pthread_kill(threading.main_thread().ident or 0, LEASE_LOST_SIGNAL)

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
        registered = unreachable = False
        idle_since, polls = time.monotonic(), 0
        while not self.signals:
            task = None
            try:
                if not registered:
                    self._register()
                    registered = True
                task = self._claim()
                if unreachable:
                    self.progress.event("reconnected", f"server {o.server} is back")
                unreachable = False
            except Unreachable as exc:
                if not unreachable and not self.signals:
                    self.progress.event("unreachable", f"{exc}; retrying", level="warning")
                unreachable = True
            if task is None:
                idle = time.monotonic() - idle_since
                if o.idle_exit is not None and idle >= o.idle_exit:
                    self.progress.event("idle_exit", f"no work for {idle:.0f}s; exiting")
                    return
                delay = poll_delay(polls, o.poll_max)
                if o.idle_exit is not None:
                    delay = min(delay, o.idle_exit - idle + 0.01)
                polls += 1
                self.stopping.wait(delay)
                continue
            polls = 0
            self._run_trial(task)
            self.trials += 1
            idle_since = time.monotonic()
            if o.max_trials is not None and self.trials >= o.max_trials:
                self.progress.event("max_trials", f"{self.trials} trials done; exiting")
                return
        self.progress.event("stopped", "stopped by signal")

    def call(self, method: str, path: str, body: Any, **kwargs: Any) -> Any:
        """One API call, retried; auth errors are fatal and a 5xx that outlasts the retries
        counts as an unreachable server."""
        try:
            return self.api.request(method, path, json=body, **kwargs)
        except ApiError as exc:
            if exc.status in AUTH_STATUSES:
                raise Fatal(f"the server refused this worker: {exc}") from None
            if exc.status >= 500:
                raise Unreachable(str(exc)) from None
            raise

    def _register(self) -> None:
        o = self.options
        body = {"name": o.name, "host": socket.gethostname(), "pid": os.getpid(),
                "processes": o.processes, "version": __version__}
        try:
            self.call("POST", "/api/v1/workers/register", body, retry_seconds=CLAIM_RETRY_SECONDS)
        except ApiError as exc:
            raise Fatal(f"cannot register: {exc}") from None

    def _claim(self) -> Task | None:
        body = {"worker": self.options.name, "studies": list(self.options.studies) or None}
        try:
            response = self.call("POST", "/api/v1/trials/claim", body,
                                  retry_seconds=CLAIM_RETRY_SECONDS)
        except ApiError as exc:
            raise Fatal(f"cannot claim trials: {exc}") from None
        return None if response.status_code == 204 else Task.from_claim(response.json())

    # -- one trial ---------------------------------------------------------------------------

    def _run_trial(self, task: Task) -> None:
        self.task, self.lost = task, None
        try:
            self._trial(task)
        finally:
            self.task = None

    def _trial(self, task: Task) -> None:
        trial = _TrialReports(self, task)
        self.progress.trial_started(task)
        beat = Heartbeat(self.options.server, self.options.token, task, self._lease_lost,
                         self.progress)
        beat.start()
        try:
            outcome = self._work(task, trial)
        except LeaseLost:
            self._end(task, trial, "dropped", "lease lost: another worker has this trial now")
            return
        except Abandoned:
            self._end(task, trial, "dropped", "server unreachable; the trial returns to the "
                      "queue when its lease expires")
            return
        except Interrupted:
            self._release(task, "worker interrupted", quick=True)
            raise
        finally:
            beat.stop()
        if trial.stop == "shutdown":
            self._release(task, "worker shutting down")
            self._end(task, trial, "released", "released back to the queue")
            return
        if trial.stop == "pruned" and outcome.state == "pruned":
            outcome = Outcome("pruned", outcome.metrics, trial.prune_reason())
        self._finish(task, outcome, trial)

    def _work(self, task: Task, trial: _TrialReports) -> Outcome:
        """Run the task; exceptions from the trial itself become a failed outcome."""
        try:
            self.in_work = True
            return self.runner.run(task, trial.send)
        except (Exception, SystemExit) as exc:
            return Outcome("failed", dict(trial.last), failure_reason(exc))
        finally:
            self.in_work = False

    def _finish(self, task: Task, outcome: Outcome, trial: _TrialReports) -> None:
        body = {"lease_token": task.lease_token, "state": outcome.state,
                "metrics": outcome.metrics, "reason": outcome.reason}
        try:
            self.call("POST", f"/api/v1/trials/{task.id}/finish", body)
        except ApiError as exc:
            lost = "lease lost" if exc.status in LOST_STATUSES else "refused"
            self._end(task, trial, "dropped", f"result {lost}: {exc}")
            return
        except Unreachable as exc:
            self._end(task, trial, "dropped", f"could not send the result ({exc}); the trial "
                      "returns to the queue when its lease expires")
            return
        self.progress.trial_finished(task, outcome.state, outcome.metrics, outcome.reason,
                                     trial.steps, time.monotonic() - trial.started)

    def _release(self, task: Task, reason: str, *, quick: bool = False) -> None:
        body = {"lease_token": task.lease_token, "reason": reason}
        limits: dict[str, Any] = {}
        if quick:
            limits = {"retry_seconds": 0.0, "timeout": QUICK_RELEASE_SECONDS}
        try:
            self.api.request("POST", f"/api/v1/trials/{task.id}/release", json=body, **limits)
        except (ApiError, Unreachable) as exc:
            self.progress.event("release_failed", f"could not release trial {task.id} ({exc}); "
                                "it returns to the queue when its lease expires",
                                level="warning", trial=task.id)

    def _end(self, task: Task, trial: _TrialReports, state: str, reason: str) -> None:
        self.progress.trial_finished(task, state, trial.last, reason, trial.steps,
                                     time.monotonic() - trial.started)


class _TrialReports:
    """Sends one trial's per-step reports and remembers why it was told to stop."""

    def __init__(self, worker: Worker, task: Task) -> None:
        self.worker, self.task = worker, task
        self.started = time.monotonic()
        self.stop: str | None = None  # "pruned" by the server, or "shutdown"
        self.steps = 0
        self.last: dict[str, Any] = {}

    def send(self, step: int, metrics: dict[str, Any]) -> bool:
        """Report ``step`` (retried; idempotent on the server); True means stop."""
        if self.stop is not None:
            return True
        if self.worker.signals and step < self.task.epochs:
            self.stop = "shutdown"
            return True
        body = {"lease_token": self.task.lease_token, "step": step, "metrics": metrics}
        try:
            reply = self.worker.call("POST", f"/api/v1/trials/{self.task.id}/report", body)
        except ApiError as exc:
            if exc.status in LOST_STATUSES:
                raise LeaseLost from None
            raise
        except Unreachable as exc:
            raise Abandoned from exc
        self.steps, self.last = step, metrics
        self.worker.progress.epoch(self.task, step, metrics, time.monotonic() - self.started)
        if reply.json()["should_stop"]:
            self.stop = "pruned"
        return self.stop is not None

    def prune_reason(self) -> str:
        value = self.last.get(self.task.metric)
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        return f"pruned by the server after step {self.steps} ({self.task.metric} {shown})"
