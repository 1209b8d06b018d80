"""The trial lease: the one implementation of the worker's side of the protocol.

Claim a trial (a fresh lease token, a fencing token), keep it alive from a background
heartbeat thread, report each step (the reply says whether to stop), then finish or
release it. A 409 (or 404) means the lease is gone: the trial went to someone else and
nothing this lease sends is written any more. Transport errors and 5xx are retried with
backoff and jitter (``hpsearch.http.ApiClient``); a 5xx that outlasts the retries counts
as an unreachable server. The worker CLI and the Python client both run on this.
"""

from __future__ import annotations

import logging
import operator
import os
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from hpsearch import __version__
from hpsearch.http import ApiClient, ApiError, Unreachable
from hpsearch.wire import MAX_REASON, RUNNING_HEADER, EarlyAbort, FinalState, plain

LOST_STATUSES = frozenset({404, 409})
CLAIM_RETRY_SECONDS = 5.0
QUICK_RELEASE_SECONDS = 2.0
TRACEBACK_LINES = 12
log = logging.getLogger("hpsearch")
N = TypeVar("N", int, float)


class LeaseLost(Exception):
    """The server gave this trial to someone else (its lease expired); nothing sent under
    the old lease is written."""


class TaskError(Exception):
    """The task cannot run here at all (a dataset missing on this node, an objective that
    does not import). Its message is the failure's summary, the same for every trial it
    hits, so the server can pause the study after a streak of them, and every reader of the
    study sees it; ``detail``, when given, is for this worker's own log only."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Task:
    """The parts of a claimed trial (``hpsearch.wire.TrialTask``) that a worker uses."""

    id: int
    study_id: int
    stage: int
    number: int
    params: dict[str, Any]
    kind: str
    dataset: str | None
    settings: dict[str, Any]
    epochs: int
    seed: int
    metric: str
    attempt: int
    lease_token: str
    lease_seconds: float
    early_abort: EarlyAbort = field(default_factory=EarlyAbort)
    direction: str = "maximize"

    @classmethod
    def from_claim(cls, data: Mapping[str, Any]) -> Task:
        """Read a claim's body leniently: fields a newer server adds are ignored."""
        task = data["task"]
        return cls(
            id=data["id"], study_id=data["study_id"], stage=data["stage"],
            number=data["number"], params=dict(data["params"]),
            kind=task.get("type", "builtin"), dataset=task.get("dataset"),
            settings=dict(task.get("settings") or {}), epochs=data["epochs"],
            seed=data["seed"], metric=data["metric"], attempt=data["attempt"],
            lease_token=data["lease_token"], lease_seconds=float(data["lease_seconds"]),
            early_abort=EarlyAbort.model_validate(data.get("early_abort") or {}),
            direction=data.get("direction", "maximize"),
        )


def failure_reason(exc: BaseException) -> str:
    """A one-line summary first (the server groups failures by it), then the last lines of
    the traceback."""
    if isinstance(exc, TaskError):
        head, shown = str(exc), exc.__cause__
    else:
        head, shown = f"{type(exc).__name__}: {exc}", exc
    lines = head.strip().splitlines()
    summary = lines[0][:1000] if lines else type(exc).__name__
    tail = []
    if shown is not None:
        tail = "".join(traceback.format_exception(shown)).rstrip().splitlines()
    return "\n".join([summary, *tail[-TRACEBACK_LINES:]])[:MAX_REASON]


def checked_report(step: Any, metrics: Any, epochs: int) -> tuple[int, dict[str, Any]]:
    """``(step, metrics)`` of a report, checked (an int in [0, ``epochs``], the trial's
    epochs, and a mapping) and made JSON-ready."""
    try:
        step = operator.index(step)
    except TypeError:
        raise TypeError(f"report(step, metrics): step must be an int, got {step!r}") from None
    if not 0 <= step <= epochs:
        raise ValueError(
            f"report(step, metrics): step must be in [0, {epochs}] (the trial's epochs), "
            f"got {step}"
        )
    if not isinstance(metrics, Mapping):
        raise TypeError(
            f"report(step, metrics): metrics must be a dict, got {type(metrics).__name__}"
        )
    return step, plain(metrics)


def call(api: ApiClient, method: str, path: str, body: Any, **kwargs: Any) -> Any:
    """One API call under the retry policy; a 5xx that outlasts the retries counts as an
    unreachable server."""
    try:
        return api.request(method, path, json=body, **kwargs)
    except ApiError as exc:
        if exc.status >= 500:
            raise Unreachable(str(exc)) from None
        raise


def register(api: ApiClient, name: str, *, processes: int = 1) -> None:
    """Tell the server who claims (shown by ``GET /workers``)."""
    body = {"name": name, "host": socket.gethostname(), "pid": os.getpid(),
            "processes": processes, "version": __version__}
    call(api, "POST", "/api/v1/workers/register", body, retry_seconds=CLAIM_RETRY_SECONDS)


def default_name() -> str:
    """What a claimer is called unless told: HOST-PID."""
    return f"{socket.gethostname()}-{os.getpid()}"


def poll_delay(attempt: int, cap: float) -> float:
    """How long to wait before polling an empty queue again: exponential backoff from
    0.25 s up to ``cap``, with jitter."""
    return min(cap, 0.25 * 2.0 ** min(attempt, 64)) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class EmptyQueue:
    """A claim that found nothing queued. ``running`` counts the trials still running in
    the studies asked for: while it is above 0 a stage is ending and more work can come
    (the next stage, a budget top-up), ``retry_after`` seconds from now by the server's
    reckoning."""

    running: int = 0
    retry_after: float | None = None

    @classmethod
    def from_response(cls, response: httpx.Response) -> EmptyQueue:
        return cls(_header_number(response, RUNNING_HEADER, int) or 0,
                   _header_number(response, "Retry-After", float))

    @property
    def work_coming(self) -> bool:
        return self.running > 0


def _header_number(response: httpx.Response, name: str, kind: type[N]) -> N | None:
    """A numeric header, or None when it is missing or not a number (an older server)."""
    try:
        return kind(response.headers[name])
    except (KeyError, ValueError):
        return None


class Lease:
    """One claimed trial under its lease: heartbeat, report, finish, release.

    ``on_lost(trial_id)`` is called once from the heartbeat thread when the server says the
    lease is gone; ``lost`` says so at any time, and the next ``report`` or ``finish``
    raises ``LeaseLost`` without writing anything. ``on_warning(kind, message)`` hears of
    heartbeats that failed but may still recover.
    """

    def __init__(self, api: ApiClient, task: Task, *,
                 on_lost: Callable[[int], None] | None = None,
                 on_warning: Callable[[str, str], None] | None = None) -> None:
        self.api, self.task = api, task
        self.on_lost, self.on_warning = on_lost, on_warning
        self.lost = False
        self.started = time.monotonic()
        self.steps = 0
        self.last: dict[str, Any] = {}
        self.should_stop = False  # the server said stop (pruning)
        self._beat: Heartbeat | None = None

    @classmethod
    def claim(cls, api: ApiClient, worker: str, studies: list[int] | None = None,
              **kwargs: Any) -> Lease | EmptyQueue:
        """Claim the oldest queued trial (of ``studies``, if given); an ``EmptyQueue`` when
        there is none. ``kwargs`` go to the ``Lease``."""
        body = {"worker": worker, "studies": studies or None}
        response = call(api, "POST", "/api/v1/trials/claim", body,
                        retry_seconds=CLAIM_RETRY_SECONDS)
        if response.status_code == 204:
            return EmptyQueue.from_response(response)
        return cls(api, Task.from_claim(response.json()), **kwargs)

    @property
    def path(self) -> str:
        return f"/api/v1/trials/{self.task.id}"

    # -- heartbeat -------------------------------------------------------------------------

    def start_heartbeat(self) -> None:
        self._beat = Heartbeat(self)
        self._beat.start()

    def stop_heartbeat(self) -> None:
        if self._beat is not None:
            self._beat.stop()
            self._beat = None

    def mark_lost(self) -> None:
        """The server said the lease is gone (from any thread); tell ``on_lost`` once."""
        if self.lost:
            return
        self.lost = True
        if self.on_lost is not None:
            self.on_lost(self.task.id)

    # -- the protocol ----------------------------------------------------------------------

    def _send(self, verb: str, body: dict[str, Any], **kwargs: Any) -> Any:
        if self.lost:
            raise LeaseLost(f"trial {self.task.id}: the lease was lost")
        try:
            return call(self.api, "POST", f"{self.path}/{verb}",
                        {"lease_token": self.task.lease_token, **body}, **kwargs)
        except ApiError as exc:
            if exc.status in LOST_STATUSES:
                self.mark_lost()
                raise LeaseLost(f"trial {self.task.id}: the lease was lost ({exc})") from None
            raise

    def report(self, step: int, metrics: dict[str, Any]) -> bool:
        """Store one step's metrics (retried; idempotent on the server); True: stop."""
        reply = self._send("report", {"step": step, "metrics": metrics})
        self.steps, self.last = step, metrics
        if reply.json()["should_stop"]:
            self.should_stop = True
        return self.should_stop

    def finish(self, state: FinalState, metrics: dict[str, Any],
               reason: str | None = None) -> None:
        """End the trial on the server; its lease ends with it."""
        self._send("finish", {"state": state, "metrics": metrics, "reason": reason})

    def release(self, reason: str, *, quick: bool = False) -> None:
        """Give the trial back to the queue (no attempt counted). ``quick``: one try of at
        most two seconds, for a process on its way out."""
        limits = {"retry_seconds": 0.0, "timeout": QUICK_RELEASE_SECONDS} if quick else {}
        self._send("release", {"reason": reason}, **limits)

    def prune_reason(self) -> str:
        value = self.last.get(self.task.metric)
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        return f"pruned by the server after step {self.steps} ({self.task.metric} {shown})"


class Heartbeat:
    """Extends a lease every third of the lease from a daemon thread; transport errors and
    5xx are retried. When the server says the lease is gone (409, or 404) it marks the
    lease lost and stops."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        seconds = lease.task.lease_seconds
        self.interval = min(max(seconds / 3, 0.2), 30.0)
        self._stopped = threading.Event()
        self._api = ApiClient(lease.api.server, lease.api.token,
                              timeout=min(max(seconds / 2, 1.0), 10.0),
                              retry_seconds=seconds, cancel=self._stopped)
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{lease.task.id}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=15)
        self._api.close()

    def _warn(self, kind: str, message: str) -> None:
        if self.lease.on_warning is not None:
            self.lease.on_warning(kind, message)
        else:
            log.warning("trial %s: %s", self.lease.task.id, message)

    def _run(self) -> None:
        path = f"{self.lease.path}/heartbeat"
        body = {"lease_token": self.lease.task.lease_token}
        while not self._stopped.wait(self.interval):
            try:
                self._api.request("POST", path, json=body)
            except ApiError as exc:
                if exc.status in LOST_STATUSES:
                    self.lease.mark_lost()
                    return
                self._warn("heartbeat_error", f"heartbeat refused: {exc}")
            except Unreachable as exc:
                if not self._stopped.is_set():
                    self._warn("heartbeat_error", f"heartbeat failed: {exc}")
