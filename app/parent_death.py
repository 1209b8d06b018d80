"""A server process of ``hpsearch serve --workers N`` ends when its supervisor ends.

uvicorn's supervisor process starts the N server processes and hands them the listening
socket. Killed with SIGKILL, it cannot stop them, and they would keep serving the port
with nobody to restart or stop them. Each server process therefore asks for SIGTERM when
its parent dies (Linux: ``prctl(PR_SET_PDEATHSIG)``) or, on other POSIX systems, watches
from a thread for its parent pid to change (an orphan is re-parented); SIGTERM is
uvicorn's graceful shutdown, which closes the listening socket first.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time

SUPERVISOR_ENV = "HPSEARCH_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1
POLL_SECONDS = 1.0

log = logging.getLogger("hpsearch.server")


def _ask_kernel() -> bool:
    """Linux: have the kernel send SIGTERM when the parent dies. False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    """The fallback: poll the parent pid, which changes when this process is orphaned."""
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    _terminate()


def _terminate() -> None:
    log.warning("server supervisor is gone; shutting down")
    os.kill(os.getpid(), signal.SIGTERM)


def exit_with_parent(parent_pid: int) -> None:
    """Make this process shut down (SIGTERM) once ``parent_pid``, its parent, is gone."""
    kernel = _ask_kernel()
    if os.getppid() != parent_pid:  # the parent died before we could ask
        _terminate()
    elif not kernel:
        threading.Thread(target=_watch, args=(parent_pid,), name="parent-watch",
                         daemon=True).start()


def guard_from_environment() -> None:
    """In a process started by the supervisor of ``--workers N`` (which names itself in
    ``HPSEARCH_SUPERVISOR_PID``), exit with it; elsewhere do nothing."""
    parent = os.environ.get(SUPERVISOR_ENV, "")
    if parent.isdigit() and int(parent) != os.getpid():
        exit_with_parent(int(parent))
