"""``hpsearch quickstart``: a real coarse-to-fine search, end to end, on this machine.

Starts ``hpsearch serve`` on a free loopback port with an SQLite file under ``.hpsearch/``
(in the current directory), creates the example study (``examples/digits_coarse_to_fine.yaml``,
shipped as ``app/examples/``), runs local worker processes until the study is done, and
prints its stages, warnings and leaderboard. Every process it starts is stopped on the
way out, on Ctrl-C and SIGTERM too.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

from app.cli.main import CliError
from worker.processes import stop_processes

EXAMPLE = "digits_coarse_to_fine.yaml"
STATE_DIR = ".hpsearch"
TERMINAL = ("completed", "aborted", "pruned", "failed")
STUDY_DONE = ("completed", "paused", "cancelled")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
POLL_SECONDS = 0.5


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quickstart",
        help="run the example coarse-to-fine search end to end",
        description="Start a server (SQLite under ./.hpsearch), create the example digits "
        "study, train it with local workers and print the leaderboard.",
    )
    p.add_argument("--processes", type=int, default=2,
                   help="local worker processes (default %(default)s)")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--keep-serving", action="store_true",
                   help="keep the server up afterwards to browse the results (Ctrl-C stops it)")
    p.set_defaults(handler=run)


def example_spec() -> dict[str, Any]:
    """The example study, from the package data (works from the repo and when installed)."""
    import yaml

    return yaml.safe_load((resources.files("app") / "examples" / EXAMPLE).read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Processes:
    """Child processes started in their own sessions (a terminal's Ctrl-C reaches only
    us) and always stopped, last started first: SIGTERM, then SIGKILL after a timeout."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        """Start ``argv`` logging to ``log``, without the caller's ``HPSEARCH_*`` settings
        (a token or database URL meant for another server)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPSEARCH_")}
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, env=env,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        stop_processes([proc], STOP_TIMEOUT)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        ignored = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for proc in reversed(self.procs):
                self.stop(proc)
        finally:
            for signum, handler in ignored.items():
                signal.signal(signum, handler)


@contextmanager
def _interrupt_signals() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so the cleanup runs; and make Ctrl-C (SIGINT) interrupt
    even when this process was started with it ignored, as a shell's background job is."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise CliError(f"the server exited with code {server.returncode}:\n{_log_tail(log)}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise CliError(f"the server did not become ready in {READY_TIMEOUT:.0f}s; see {log}")


def _stage_line(stage: dict[str, Any]) -> str:
    from app.cli.output import stage_size

    return f"stage {stage['index']}: {stage_size(stage)}"


def _progress(stage: dict[str, Any]) -> tuple[int, int]:
    """(done, total): epochs of a budget stage, trials of any other."""
    if stage.get("budget") is not None:
        return min(stage["epochs_spent"], stage["budget"]), stage["budget"]
    done = sum(n for state, n in stage["counts"].items() if state in TERMINAL)
    return done, stage["trials"]


def _follow(api: Any, study_id: int, workers: subprocess.Popen[bytes], log: Path) -> None:
    """Show trials done per stage until the study is over; a rich bar on a terminal,
    a line per stage otherwise."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from app.cli.output import console, fmt

    bars: dict[int, Any] = {}
    finished: set[int] = set()
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  disable=not console.is_terminal) as progress:
        while True:
            study = api.get(f"/api/v1/studies/{study_id}")
            for stage in study["stages"]:
                index = stage["index"]
                done, total = _progress(stage)
                if index not in bars:
                    bars[index] = progress.add_task(f"stage {index}", total=total)
                    console.print(f"{_stage_line(stage)} started")
                progress.update(bars[index], completed=done, total=total)
                if stage["state"] != "open" and index not in finished:
                    finished.add(index)
                    counts = ", ".join(f"{k} {v}" for k, v in sorted(stage["counts"].items()))
                    top = api.get(f"/api/v1/studies/{study_id}/leaderboard", stage=index,
                                  limit=1)["rows"]
                    best = fmt(top[0]["objective"]) if top else "-"
                    console.print(f"{_stage_line(stage)} done ({counts}); stage best {best}")
            if study["state"] in STUDY_DONE:
                return
            if workers.poll() is not None:
                raise CliError(f"the workers exited with code {workers.returncode}:\n"
                               f"{_log_tail(log)}")
            time.sleep(POLL_SECONDS)


def run(args: argparse.Namespace) -> int:
    from app.cli import output
    from app.cli.boards import leaderboard_table
    from app.cli.studies import print_study
    from hpsearch.http import ApiClient

    if args.processes < 1:
        raise CliError("--processes must be >= 1")
    root = Path.cwd() / STATE_DIR
    root.mkdir(exist_ok=True)
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    server_log, workers_log = root / "server.log", root / "workers.log"
    started = time.monotonic()
    c = output.console
    with _interrupt_signals(), Processes() as procs, ApiClient(url, retry_seconds=10) as api:
        server = procs.start([sys.executable, "-m", "app.cli", "serve", "--db",
                              f"sqlite:///{root / 'quickstart.db'}", "--port", str(port),
                              "--log-level", "warning"], server_log)
        _wait_ready(url, server, server_log)
        c.print(f"server {url} (database {root / 'quickstart.db'}, log {server_log})")
        study = api.post("/api/v1/studies", example_spec())
        c.print(f"created study #{study['id']} {study['name']}; starting {args.processes} "
                f"worker process{'es' if args.processes > 1 else ''} (log {workers_log})")
        workers = procs.start([sys.executable, "-m", "app.cli", "worker", "--server", url,
                               "--study", str(study["id"]), "--processes", str(args.processes),
                               "--name", "quickstart", "--poll-max", "1", "--quiet"],
                              workers_log)
        _follow(api, study["id"], workers, workers_log)
        procs.stop(workers)
        c.print()
        print_study(api.get(f"/api/v1/studies/{study['id']}"))
        c.print()
        board = leaderboard_table(
            api.get(f"/api/v1/studies/{study['id']}/leaderboard", limit=10), across=False)
        output.table(board.headers, board.rows, title=board.title)
        c.print(f"done in {time.monotonic() - started:.0f}s")
        if args.keep_serving:
            c.print(f"browse {url}/studies/{study['id']} (API docs {url}/docs); "
                    "Ctrl-C stops the server")
            with suppress(KeyboardInterrupt):
                server.wait()
    return 0
