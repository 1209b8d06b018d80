"""Stopping child processes: SIGTERM to all, SIGKILL to those that outstay the timeout."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from worker.processes import stop_processes

pytestmark = pytest.mark.slow  # starts processes

STUBBORN = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")


def test_terminate_then_kill_what_ignores_it():
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE)
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    stop_processes([polite, stubborn], timeout=1)
    assert polite.returncode == -signal.SIGTERM
    assert stubborn.returncode == -signal.SIGKILL
    stop_processes([polite, stubborn], timeout=1)  # stopping the stopped is harmless
