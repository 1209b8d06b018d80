"""Objectives for ``study.optimize`` tests: module-level, so spawned processes import them
(``tests.sdk_helpers:...``). Kept light: the standard library and hpsearch only."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

RENDEZVOUS_ENV = "HPSEARCH_TEST_RENDEZVOUS"


def rising(trial: Any) -> dict[str, Any]:
    """Reports ``x * epoch / epochs`` each epoch; returns it with the process id."""
    score = 0.0
    for epoch in range(1, trial.epochs + 1):
        time.sleep(0.05)
        score = trial.params["x"] * epoch / trial.epochs
        if trial.report(epoch, val_accuracy=score):
            break
    return {"val_accuracy": score, "pid": os.getpid()}


def rising_together(trial: Any) -> dict[str, Any]:
    """Like :func:`rising`, but each process's first trial waits until two processes have
    started one (listed in the file named by ``HPSEARCH_TEST_RENDEZVOUS``): proof that the
    trials ran in two processes at once."""
    board = Path(os.environ[RENDEZVOUS_ENV])
    with board.open("a") as f:
        f.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + 60
    while len(set(board.read_text().split())) < 2:
        if time.monotonic() > deadline:
            raise TimeoutError("the second worker process never started a trial")
        time.sleep(0.05)
    return rising(trial)


def number_only(trial: Any) -> float:
    """Returns a plain number: the study's metric."""
    trial.report(1, val_accuracy=trial.params["x"])
    return float(trial.params["x"])


def broken(trial: Any) -> None:
    raise ValueError(f"x={trial.params['x']:.3f} broke the model")
