"""Stopping child processes: SIGTERM first, SIGKILL for those still running after a grace
period."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable


def stop_processes(procs: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    """Ask every process in ``procs`` to stop at once (SIGTERM), give them ``timeout``
    seconds each, then kill (SIGKILL) and reap the ones still running."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
