"""What a trial runs: the built-in NumPy trainer or the user's objective, behind one call.

``Runner.run(task, send) -> Outcome``, where ``send(step, metrics) -> bool`` reports one
step and says whether to stop. Failures raise: ``TaskError`` when this worker cannot run
the task at all (its message is the same for every trial it hits, so the server can
pause the study), any other exception when the trial's own params broke it.
"""

from __future__ import annotations

import functools
import importlib
import operator
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Send = Callable[[int, dict[str, Any]], bool]
MAX_REASON = 20_000
TRACEBACK_LINES = 12


DATASET_UNREADABLE = "dataset not readable on this worker (details in the worker's log)"


class TaskError(Exception):
    """This worker cannot run the task at all (dataset missing here, objective not importable).

    The message becomes the trial's failure reason, which every reader of the study sees;
    ``detail``, when given, is for this worker's own log only."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Task:
    """The parts of a claimed trial (``app.schemas.TrialTask``) that a worker uses."""

    id: int
    study_id: int
    stage: int
    number: int
    params: dict[str, Any]
    kind: str
    dataset: str | None
    settings: dict[str, Any]
    epochs: int
    seed: int
    metric: str
    attempt: int
    lease_token: str
    lease_seconds: float

    @classmethod
    def from_claim(cls, data: Mapping[str, Any]) -> Task:
        task = data["task"]
        return cls(
            id=data["id"], study_id=data["study_id"], stage=data["stage"],
            number=data["number"], params=dict(data["params"]),
            kind=task.get("type", "builtin"), dataset=task.get("dataset"),
            settings=dict(task.get("settings") or {}), epochs=data["epochs"],
            seed=data["seed"], metric=data["metric"], attempt=data["attempt"],
            lease_token=data["lease_token"], lease_seconds=float(data["lease_seconds"]),
        )


@dataclass(frozen=True)
class Outcome:
    """How a trial ended (as the worker sees it) and its final metrics."""

    state: str  # completed | aborted | pruned | failed
    metrics: dict[str, Any]
    reason: str | None = None


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: NumPy scalars and arrays become numbers and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    return str(value)


def failure_reason(exc: BaseException) -> str:
    """A one-line summary first (the server groups failures by it), then the last lines of
    the traceback."""
    if isinstance(exc, TaskError):
        head, shown = str(exc), exc.__cause__
    else:
        head, shown = f"{type(exc).__name__}: {exc}", exc
    lines = head.strip().splitlines()
    summary = lines[0][:1000] if lines else type(exc).__name__
    tail = []
    if shown is not None:
        tail = "".join(traceback.format_exception(shown)).rstrip().splitlines()
    return "\n".join([summary, *tail[-TRACEBACK_LINES:]])[:MAX_REASON]


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
        try:
            step = operator.index(step)
        except TypeError:
            raise TypeError(f"report(step, metrics): step must be an int, got {step!r}") from None
        if step < 0:
            raise ValueError(f"report(step, metrics): step must be >= 0, got {step}")
        if not isinstance(metrics, Mapping):
            raise TypeError(
                f"report(step, metrics): metrics must be a dict, got {type(metrics).__name__}"
            )
        self.last = plain(metrics)
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
            config = config_from({**task.settings, **task.params}, epochs=task.epochs,
                                 seed=task.seed)
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
