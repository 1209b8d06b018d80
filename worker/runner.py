"""What a trial runs: the built-in NumPy trainer or the user's objective, behind one call.

``Runner.run(task, send) -> Outcome``, where ``send(step, metrics) -> bool`` reports one
step and says whether to stop. Failures raise: ``TaskError`` when this worker cannot run
the task at all (its message is the same for every trial it hits, so the server can
pause the study), any other exception when the trial's own params broke it.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hpsearch.lease import Task, TaskError, checked_report
from hpsearch.lease import failure_reason as failure_reason
from hpsearch.wire import MAX_REASON as MAX_REASON
from hpsearch.wire import plain

Send = Callable[[int, dict[str, Any]], bool]

DATASET_UNREADABLE = "dataset not readable on this worker (details in the worker's log)"



@dataclass(frozen=True)
class Outcome:
    """How a trial ended (as the worker sees it) and its final metrics."""

    state: str  # completed | aborted | pruned | failed
    metrics: dict[str, Any]
    reason: str | None = None


class Reporter:
    """The ``report`` a custom objective receives.

    ``report(step, metrics)`` sends one step's metrics and returns True when the trial
    should stop (pruned by the server, or the worker is shutting down). It also says what
    the trial is: ``epochs`` (this stage's budget), ``seed``, ``trial_id``, ``number``,
    ``stage`` and ``study_id``.
    """

    def __init__(self, task: Task, send: Send) -> None:
        self._send = send
        self.epochs, self.seed, self.trial_id = task.epochs, task.seed, task.id
        self.number, self.stage, self.study_id = task.number, task.stage, task.study_id
        self.stopped = False
        self.last: dict[str, Any] = {}

    def __call__(self, step: int, metrics: Mapping[str, Any]) -> bool:
        step, self.last = checked_report(step, metrics, self.epochs)
        if not self.stopped:
            self.stopped = self._send(step, self.last)
        return self.stopped


@functools.cache
def load_objective(spec: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (the current directory is on sys.path)."""
    module_name, _, attr = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise TaskError(
            f"cannot import objective {spec}: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attr.split("."):
        if not hasattr(target, part):
            raise TaskError(f"cannot import objective {spec}: {module_name} has no {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise TaskError(f"objective {spec} is not callable")
    return target


def trainer_settings(task: Task) -> dict[str, Any]:
    """The built-in trainer's settings for ``task``: the study's early-abort rule, then the
    task's fixed settings, then the trial's params (each may override the one before)."""
    rule = {"loss_factor": task.early_abort.loss_factor,
            "stall_epochs": task.early_abort.stall_epochs}
    return {**rule, **task.settings, **task.params}


class Runner:
    """Runs builtin tasks with the NumPy trainer and custom tasks with ``objective``."""

    def __init__(self, objective: str | None = None) -> None:
        self.objective = objective

    def run(self, task: Task, send: Send) -> Outcome:
        if task.kind == "custom":
            return self._custom(task, send)
        return self._builtin(task, send)

    def _builtin(self, task: Task, send: Send) -> Outcome:
        from worker.datasets import DatasetError, load_dataset
        from worker.nn.config import ConfigError, config_from
        from worker.nn.trainer import train

        if task.dataset is None:
            raise TaskError("the built-in trainer needs a dataset; the task has none")
        try:
            config = config_from(trainer_settings(task), epochs=task.epochs, seed=task.seed,
                                 early_abort=task.early_abort.enabled)
        except ConfigError as exc:
            raise TaskError(f"bad training settings: {exc}") from None
        try:
            data = load_dataset(task.dataset)
        except DatasetError as exc:  # names a path: whether it exists is this node's business
            raise TaskError(DATASET_UNREADABLE, detail=f"{task.dataset}: {exc}") from None
        except ImportError as exc:
            raise TaskError(f"cannot load dataset {task.dataset} on this worker: {exc}") from exc
        result = train(config, data, on_epoch=lambda epoch, metrics: send(epoch, plain(metrics)))
        return Outcome(result.state, plain(result.metrics), result.reason)

    def _custom(self, task: Task, send: Send) -> Outcome:
        if self.objective is None:
            raise TaskError(
                "a custom task needs a worker started with --objective module:function"
            )
        objective = load_objective(self.objective)
        report = Reporter(task, send)
        result = objective(dict(task.params), report)
        if result is None:  # nothing returned: the last reported metrics are the result
            result = report.last
        if not isinstance(result, Mapping):
            raise TypeError(
                f"objective {self.objective} returned {type(result).__name__}; "
                "it must return a dict of metrics"
            )
        return Outcome("pruned" if report.stopped else "completed", plain(result))
