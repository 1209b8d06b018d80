"""``hpsearch serve --workers N`` as real processes: every server process writes its JSON
log lines, and none outlives a supervisor killed with SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, custom_spec, free_port

pytestmark = pytest.mark.slow
API = "/api/v1"


def start_server(db: Path, log: Path, *, workers: int = 2, level: str = "info",
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--db", f"sqlite:///{db}",
             "--port", str(port), "--workers", str(workers), "--log-level", level],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=out,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server not ready:\n{log.read_text()}")


def json_lines(log: Path) -> list[dict]:
    out = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def server_processes(parent: int) -> list[int]:
    """The uvicorn server processes the supervisor ``parent`` started (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    """Pids to SIGKILL after the test, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def test_every_server_process_writes_request_and_sweeper_lines(tmp_path, cleanup):
    log = tmp_path / "server.log"
    proc, url = start_server(tmp_path / "logs.db", log,
                             env={"HPSEARCH_LEASE_SECONDS": "0.5",
                                  "HPSEARCH_SWEEP_SECONDS": "0.2"})
    cleanup.append(proc.pid)
    try:
        cleanup.extend(server_processes(proc.pid))
        sid = httpx.post(url + f"{API}/studies", json=custom_spec(trials=2)).json()["id"]
        claimed = httpx.post(url + f"{API}/trials/claim", json={"worker": "w"}).json()
        assert claimed["study_id"] == sid

        def get(_: int) -> int:  # a fresh connection each, so the processes share them
            return httpx.get(url + f"{API}/studies/{sid}", timeout=10).status_code

        deadline = time.monotonic() + 30
        with ThreadPoolExecutor(8) as pool:
            while time.monotonic() < deadline:
                assert set(pool.map(get, range(16))) == {200}
                lines = json_lines(log)
                request_pids = {e["pid"] for e in lines if e["message"] == "request"}
                expired = [e for e in lines if e["message"] == "expired leases"]
                if len(request_pids) == 2 and expired:
                    break
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    lines = json_lines(log)
    sweepers = {e["pid"] for e in lines if e["message"] == "lease sweeper started"}
    requests = [e for e in lines if e["message"] == "request"]
    assert len(sweepers) == 2 and proc.pid not in sweepers, lines[:5]
    assert {e["pid"] for e in requests} == sweepers
    assert any(e["path"] == f"{API}/studies/{sid}" and e["status"] == 200 for e in requests)
    assert any(e["message"] == "expired leases" and e["pid"] in sweepers for e in lines)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_server_processes_exit_when_the_supervisor_is_killed(tmp_path, cleanup):
    proc, url = start_server(tmp_path / "orphans.db", tmp_path / "server.log", level="warning")
    cleanup.append(proc.pid)
    children = server_processes(proc.pid)
    cleanup.extend(children)
    assert len(children) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(running(pid) for pid in children):
        time.sleep(0.1)
    assert not any(running(pid) for pid in children), "server processes outlived the parent"
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz", timeout=2)


CHILD = """
import os, time
import app.parent_death as pd
pd._ask_kernel = lambda: False  # as where prctl does not exist: the pid watch alone
pd.exit_with_parent(os.getppid())
print("watching", flush=True)
time.sleep(120)
"""
PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE)
assert child.stdout.readline() == b"watching\\n"
print(child.pid, flush=True)
child.wait()
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_the_portable_parent_watch_ends_an_orphan(cleanup):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD], cwd=REPO,
                              stdout=subprocess.PIPE)
    cleanup.append(parent.pid)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    cleanup.append(child)
    assert running(child)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and running(child):
        time.sleep(0.1)
    assert not running(child)
