"""Helpers for the worker tests: real worker processes with JSON-line logs, waiting on
conditions with deadlines, a small API client, and custom objectives the worker
processes import as ``tests.worker_helpers:steady`` / ``:flaky``.

Kept light (standard library, httpx and worker.runner): worker processes import it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from worker.runner import Task

REPO = Path(__file__).resolve().parent.parent
WORKER_MODULE = (sys.executable, "-m", "worker.cli")
# the installed console script: unlike `python -m`, it does not put the cwd on sys.path
HPSEARCH_WORKER = (str(Path(sys.executable).with_name("hpsearch")), "worker")
T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str,
             interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def make_task(**overrides: Any) -> Task:
    """A claimed builtin trial on the spiral dataset (tiny and fast), fields overridable."""
    fields: dict[str, Any] = dict(
        id=1, study_id=2, stage=0, number=3, params={"learning_rate": 0.05, "reg": 1e-4},
        kind="builtin", dataset="spiral", settings={"hidden_size": 8, "batch_size": 64},
        epochs=3, seed=11, metric="val_accuracy", attempt=1, lease_token="t",
        lease_seconds=30.0,
    )
    fields.update(overrides)
    return Task(**fields)


class Api:
    """Just enough of the REST API for the tests."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url + "/api/v1", timeout=30)

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None) -> Any:
        r = self.http.post(path, json=body or {})
        r.raise_for_status()
        return r.json()

    def create_study(self, spec: Mapping[str, Any]) -> int:
        return int(self.post("/studies", dict(spec))["id"])

    def trials(self, study_id: int) -> list[dict[str, Any]]:
        """Every trial of the study with its per-step reports."""
        return self.get(f"/studies/{study_id}/export", format="json")["trials"]

    def study(self, study_id: int) -> dict[str, Any]:
        return self.get(f"/studies/{study_id}")

    def study_done(self, study_id: int) -> bool:
        return self.study(study_id)["state"] == "completed"


def steady_spec(trials: int, epochs: int, sleep: float, **extra: Any) -> dict[str, Any]:
    """A custom-objective study for :func:`steady`: ``sleep`` seconds per step."""
    spec: dict[str, Any] = {
        "name": "steady",
        "task": {"type": "custom"},
        "space": {"x": {"type": "uniform", "low": 0.0, "high": 1.0},
                  "sleep": {"type": "fixed", "value": sleep}},
        "stages": [{"trials": trials, "epochs": epochs, "pruning": {"rule": "none"}}],
        "seed": 7,
    }
    spec.update(extra)
    return spec


class WorkerProcess:
    """``python -m worker.cli --log-json ...`` (or ``command``) with its output in files under
    ``log_dir``."""

    def __init__(self, server: str, log_dir: Path, name: str, *args: str,
                 cwd: Path = REPO, command: tuple[str, ...] = WORKER_MODULE) -> None:
        self.name = name
        self.out = log_dir / f"{name}.out"
        self.err = log_dir / f"{name}.err"
        argv = [*command, "--server", server, "--name", name, "--log-json", "--poll-max", "0.5",
                *args]
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err)
        self.pid = self.proc.pid

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        out = []
        for line in self.out.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if kind is None or event.get("event") == kind:
                out.append(event)
        return out

    def wait_event(self, kind: str, timeout: float,
                   where: Callable[[dict[str, Any]], bool] = lambda e: True) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.events(kind) if where(e)), None)

        try:
            return wait_for(found, timeout, f"{self.name}: event {kind}")
        except AssertionError:
            raise AssertionError(f"{self.name} never logged {kind!r}; it logged:\n"
                                 f"{self.out.read_text()}\n{self.err.read_text()}") from None

    def send(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout}s:\n"
                                 f"{self.out.read_text()}\n{self.err.read_text()}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def finished_events(*workers: WorkerProcess) -> list[dict[str, Any]]:
    """Every trial a worker finished on the server (not released or dropped)."""
    return [e for w in workers for e in w.events("trial_finished")
            if e["state"] in ("completed", "aborted", "pruned", "failed")]


# -- custom objectives run by the worker processes ----------------------------------------


def steady(params: dict[str, Any], report: Any) -> dict[str, Any]:
    """Sleeps ``params["sleep"]`` per step and reports a score rising towards ``x``."""
    score = 0.0
    for step in range(1, report.epochs + 1):
        time.sleep(params["sleep"])
        score = params["x"] * step / report.epochs
        if report(step, {"val_accuracy": score, "loss": 1 - score}):
            break
    return {"val_accuracy": score}


def endless(params: dict[str, Any], report: Any) -> dict[str, Any]:
    """A first step that only an interruption ends (it would take an hour)."""
    time.sleep(3600)
    return steady(params, report)


def flaky(params: dict[str, Any], report: Any) -> dict[str, Any]:
    """Like :func:`steady`, but params with ``x > 0.5`` crash on the first step."""
    if params["x"] > 0.5:
        raise ValueError(f"x={params['x']:.3f} is too large for this model")
    return steady(params, report)


def tail(params: dict[str, Any], report: Any) -> dict[str, Any]:
    """Every fourth trial (the first of each 4-trial stage) takes 2.5 s, the rest 0.1 s:
    each stage ends on one slow trial while the other worker has nothing queued."""
    time.sleep(2.5 if report.number % 4 == 0 else 0.1)
    report(1, {"val_accuracy": params["x"]})
    return {"val_accuracy": params["x"]}
