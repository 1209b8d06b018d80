"""``--processes K``: K children with cores/K BLAS threads each, a crashed child restarted,
SIGTERM stopping them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.worker_helpers import REPO, Api, alive, steady_spec, wait_for
from worker.supervisor import cpu_count

pytestmark = pytest.mark.slow


def events(log: Path, kind: str) -> list[dict]:
    out = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event["event"] == kind:
                out.append(event)
    return out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # storage-independent
def test_processes_split_threads_restart_crashes_and_stop_together(server, tmp_path: Path):
    api = Api(server.url)
    api.create_study(steady_spec(trials=40, epochs=3, sleep=0.2))
    log = tmp_path / "node.out"
    with log.open("wb") as out:
        node = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "--server", server.url, "--name", "node",
             "--processes", "2", "--log-json", "--poll-max", "0.5",
             "--objective", "tests.worker_helpers:steady"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        def started() -> dict[str, list[int]]:
            pids: dict[str, list[int]] = {}
            for e in events(log, "started"):
                pids.setdefault(e["worker"], []).append(e["pid"])
            return pids

        first = wait_for(lambda: len(started()) == 2 and started(), 60, "two children")
        assert set(first) == {"node-0", "node-1"}
        threads = {e["blas_threads"] for e in events(log, "started")}
        assert threads == {max(1, cpu_count() // 2)}
        registered = wait_for(lambda: {w["name"]: w for w in api.get("/workers")
                                       if w["name"].startswith("node-")}, 30, "registrations")
        assert {w["processes"] for w in registered.values()} == {2}

        victim = first["node-0"][0]
        wait_for(lambda: events(log, "trial_started"), 30, "a trial to start")
        os.kill(victim, signal.SIGKILL)
        restarted = wait_for(lambda: len(started().get("node-0", [])) == 2 and started(), 30,
                             "node-0 to be restarted")
        assert restarted["node-0"][1] != victim and not alive(victim)
        assert any(e["child"] == "node-0" for e in events(log, "child_crashed"))

        children = [restarted["node-0"][1], restarted["node-1"][0]]
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=30) == 0
        assert not any(alive(pid) for pid in children)
        released = [e["trial"] for e in events(log, "trial_finished")
                    if e["state"] == "released"]
        assert released  # the children were mid-trial and gave their trials back
        assert {api.get(f"/trials/{t}")["state"] for t in released} == {"queued"}
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
