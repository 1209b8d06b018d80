"""Shared fixtures: a fresh database per test on SQLite and (when configured) PostgreSQL,
an in-process API client, and real server processes; a clean ``HPSEARCH_*`` environment,
and a guard that fails any test starting a process without the ``slow`` or ``browser``
marker (so ``make test-fast`` stays in-process)."""

from __future__ import annotations

import multiprocessing.process
import os
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db import normalize_url
from worker.processes import stop_processes

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

PG_ENV = "HPSEARCH_TEST_POSTGRES_URL"
PG_URL = os.environ.get(PG_ENV)  # read before the environment is scrubbed
REPO = Path(__file__).resolve().parent.parent
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
PROCESS_MARKERS = ("slow", "browser")


def postgres_admin_url() -> str | None:
    return normalize_url(PG_URL) if PG_URL else None


@pytest.fixture(autouse=True, scope="session")
def clean_environment() -> Iterator[None]:
    """No ``HPSEARCH_*`` variable of the developer's shell reaches Settings, the CLI or the
    processes the tests start; a test sets what it needs."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("HPSEARCH_")]:
            mp.delenv(name)
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Starting a subprocess or a multiprocessing child, in a test or in any fixture it
    sets up, fails a test not marked ``slow`` or ``browser``: ``make test-fast`` leaves
    those out, so it stays in-process."""
    if any(item.get_closest_marker(m) for m in PROCESS_MARKERS):
        return (yield)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError(f"{item.nodeid} starts a process: mark it slow")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(subprocess.Popen, "_execute_child", refuse)
        mp.setattr(multiprocessing.process.BaseProcess, "start", refuse)
        return (yield)


def make_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a new, empty database; drop it afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'hpsearch.db'}"
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip(f"{PG_ENV} is not set")
    name = f"hps_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_database(request.param, tmp_path)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, lease_seconds=30, sweep_seconds=3600)


@pytest.fixture
def client(settings: Settings) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from app.main import create_app

    # an open server answers only to its loopback name (app/security.py)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        yield c


def custom_spec(trials: int = 5, epochs: int = 3, **extra: Any) -> dict[str, Any]:
    """A study that any worker (or a test) can run: a custom objective over two params."""
    spec: dict[str, Any] = {
        "name": "custom-study",
        "task": {"type": "custom"},
        "space": {
            "x": {"type": "uniform", "low": 0.0, "high": 1.0},
            "lr": {"type": "log_uniform", "low": 1e-5, "high": 1e-1},
        },
        "stages": [{"trials": trials, "epochs": epochs}],
        "seed": 1,
    }
    spec.update(extra)
    return spec


def builtin_spec(trials: int = 4, epochs: int = 2, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "digits-study",
        "task": {"dataset": "digits", "settings": {"hidden_size": 32}},
        "space": {
            "learning_rate": {"type": "log_uniform", "low": 1e-4, "high": 1e-1},
            "reg": {"type": "log_uniform", "low": 1e-6, "high": 1e-2},
        },
        "stages": [{"trials": trials, "epochs": epochs}],
        "seed": 3,
    }
    spec.update(extra)
    return spec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A real ``hpsearch serve`` in a subprocess, stopped by ``stop()``."""

    def __init__(self, database_url: str, *, env: dict[str, str] | None = None,
                 workers: int = 1, port: int | None = None) -> None:
        self.database_url = database_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--db", self.database_url,
             "--port", str(self.port), "--workers", str(self.workers),
             "--log-level", "warning"],
            env=self.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"server exited with {self.proc.returncode}: {err}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        if self.proc:
            stop_processes([self.proc], timeout=15)


@pytest.fixture
def server(database_url: str) -> Iterator[ServerProcess]:
    srv = ServerProcess(database_url, env={"HPSEARCH_LEASE_SECONDS": "30"}).start()
    yield srv
    srv.stop()
