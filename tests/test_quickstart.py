"""``hpsearch quickstart``: the example ships with the package, a full run prints the
leaderboard in time, and no server or worker outlives it, Ctrl-C included."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.cli.output import fmt
from app.cli.quickstart import EXAMPLE, example_spec
from app.schemas import StudySpec
from tests.worker_helpers import REPO, alive, wait_for

DEADLINE = 210.0  # seconds to wait for the run before failing (not a speed goal)


def test_packaged_example_is_the_canonical_one():
    canonical = REPO / "examples" / EXAMPLE
    assert (REPO / "app" / "examples" / EXAMPLE).read_bytes() == canonical.read_bytes(), (
        f"app/examples/{EXAMPLE} drifted from examples/{EXAMPLE}; copy it over")


def test_example_is_a_coarse_to_fine_digits_study():
    spec = StudySpec.model_validate(example_spec())
    assert spec.task.dataset == "digits"
    assert {p.type for p in spec.space.params.values()} == {"log_uniform"}
    coarse, fine = spec.stages
    assert coarse.trials > fine.trials and coarse.epochs < fine.epochs


class Quickstart:
    """``hpsearch quickstart`` in a fresh directory, its output in a file."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.cwd, self.out = cwd, cwd / "quickstart.out"
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "quickstart", *args], cwd=cwd, stdout=out,
                stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})

    def text(self) -> str:
        return self.out.read_text()

    def wait_output(self, needle: str, timeout: float) -> str:
        def seen() -> str | None:
            if self.proc.poll() is not None and needle not in self.text():
                raise AssertionError(f"quickstart exited {self.proc.returncode}:\n{self.text()}")
            return self.text() if needle in self.text() else None

        return wait_for(seen, timeout, f"{needle!r} in the quickstart output", interval=0.3)

    def url(self) -> str:
        found = re.search(r"server (http://127\.0\.0\.1:\d+)", self.wait_output("server ", 60))
        assert found, self.text()
        return found.group(1)

    def children(self, url: str) -> list[int]:
        """Live processes it started: the server (its database is under cwd) and workers."""
        marks = (str(self.cwd), url)
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.proc.pid:
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if any(mark in cmdline for mark in marks) and alive(int(entry.name)):
                pids.append(int(entry.name))
        return pids

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.slow
def test_quickstart_runs_the_example_and_leaves_nothing_running(tmp_path: Path):
    qs = Quickstart(tmp_path, "--keep-serving")
    try:
        url = qs.url()
        text = qs.wait_output("browse ", DEADLINE)
        assert re.search(r"done in \d+s", text), text
        for needle in ("Leaderboard:", "stage 0 (done)", "stage 1 (done)", "learning_rate log [",
                       "objective maximize val_accuracy"):
            assert needle in text, text
        study = httpx.get(f"{url}/api/v1/studies/1", timeout=10).json()
        assert study["state"] == "completed" and study["best"] > 0.9
        for stage in (0, 1):  # each stage's own best, even when both ended between polls
            shown = re.search(rf"stage {stage}: .* done \(.*\); stage best (\S+)", text)
            top = httpx.get(f"{url}/api/v1/studies/1/leaderboard?stage={stage}&limit=1",
                            timeout=10).json()["rows"][0]["objective"]
            assert shown is not None and shown.group(1) == fmt(top), text
        assert len(qs.children(url)) == 1  # only the server, kept for browsing
        assert (tmp_path / ".hpsearch" / "quickstart.db").is_file()
        qs.proc.send_signal(signal.SIGINT)
        assert qs.proc.wait(timeout=30) == 0
        assert qs.children(url) == []
    finally:
        qs.kill()


@pytest.mark.slow
def test_ctrl_c_mid_run_stops_the_server_and_the_workers(tmp_path: Path):
    qs = Quickstart(tmp_path)
    try:
        url = qs.url()
        qs.wait_output("stage 0: ", 60)
        # the server, the worker supervisor and its two children
        wait_for(lambda: len(qs.children(url)) == 4, 30, "the workers to start")
        started = qs.children(url)
        qs.proc.send_signal(signal.SIGINT)
        assert qs.proc.wait(timeout=60) == 130
        # the very processes it started, not whatever else names a reused port
        assert [pid for pid in started if alive(pid)] == []
    finally:
        qs.kill()
