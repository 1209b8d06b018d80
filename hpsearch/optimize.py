"""``study.optimize``: run an objective function on a study's trials, here or in spawned
worker processes that share one trial budget and one deadline."""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING, Any

from hpsearch.lease import failure_reason
from hpsearch.trial import Catch, Trial

if TYPE_CHECKING:
    from hpsearch.client import Objective, Study

log = logging.getLogger("hpsearch")
UNLIMITED = -1
JOIN_SECONDS = 30.0


class ObjectiveFailed(RuntimeError):
    """The objective raised in a worker process (its summary and traceback tail)."""


def run_objective(trial: Trial, objective: Objective) -> None:
    """``objective(trial)`` inside ``with trial:``: its result becomes the final metrics."""
    from hpsearch.client import as_metrics

    with trial:
        result = as_metrics(objective(trial), trial.metric)
        if result is not None:
            trial.set_result(result)


def optimize(study: Study, objective: Objective, *, n_trials: int | None, n_workers: int,
             timeout: float | None, catch: Catch) -> None:
    if n_trials is not None and n_trials < 1:
        raise ValueError(f"n_trials must be >= 1 or None, got {n_trials}")
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds or None, got {timeout}")
    if n_workers == 1:
        for trial in study.trials(n_trials, timeout=timeout, catch=catch):
            run_objective(trial, objective)
        return
    try:
        pickle.dumps(objective)
    except Exception as exc:
        raise TypeError(f"optimize(n_workers={n_workers}) runs the objective in spawned "
                        "processes, so it must be picklable (a module-level function): "
                        f"{exc}") from None
    _in_processes(study, objective, n_trials, n_workers, timeout, catch)


def _in_processes(study: Study, objective: Objective, n_trials: int | None, n_workers: int,
                  timeout: float | None, catch: Catch) -> None:
    ctx = multiprocessing.get_context("spawn")
    budget = ctx.Value("q", UNLIMITED if n_trials is None else n_trials)
    stop = ctx.Event()
    errors = ctx.SimpleQueue()
    deadline = None if timeout is None else time.time() + timeout
    client = study.client
    procs = [
        ctx.Process(target=_worker, name=f"hpsearch-optimize-{i}",
                    args=(client.server, client.token, f"{client.name}-{i}",
                          client.retry_seconds, study.id, objective, budget, stop, deadline,
                          catch, errors))
        for i in range(n_workers)
    ]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join()
    except BaseException:  # Ctrl-C: the children got it too and release their trials
        stop.set()
        for proc in procs:
            proc.join(JOIN_SECONDS)
            if proc.is_alive():
                proc.terminate()
        raise
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    if failures:
        raise ObjectiveFailed(f"the objective failed in a worker process: {failures[0]}")
    crashed = [p for p in procs if p.exitcode not in (0, None)]
    if crashed:
        raise ObjectiveFailed(f"worker process {crashed[0].name} died with exit code "
                              f"{crashed[0].exitcode}")


def _take(budget: Synchronized[int]) -> bool:
    with budget.get_lock():
        if budget.value == 0:
            return False
        if budget.value > 0:
            budget.value -= 1
        return True


def _give_back(budget: Synchronized[int]) -> None:
    with budget.get_lock():
        if budget.value >= 0:
            budget.value += 1


def _worker(server: str, token: str | None, name: str, retry_seconds: float, study_id: int,
            objective: Objective, budget: Synchronized[int], stop: Event,
            deadline: float | None, catch: Catch, errors: Any) -> None:
    """One worker process: take a slot of the budget, claim, run, until none is left."""
    from hpsearch.client import Client

    with Client(server, token, name=name, retry_seconds=retry_seconds) as client:
        study = client.study(study_id)
        while not stop.is_set() and _take(budget):
            left = None if deadline is None else deadline - time.time()
            trial = study.ask(left, catch=catch) if left is None or left > 0 else None
            if trial is None:
                _give_back(budget)
                return
            try:
                run_objective(trial, objective)
            except KeyboardInterrupt:
                return  # released by the trial; the parent stops the rest
            except BaseException as exc:
                errors.put(failure_reason(exc))
                stop.set()
                return
