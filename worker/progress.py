"""What a worker tells whoever watches it: a rich line per trial (with a live status line
on a terminal), JSON lines for log collectors (``--log-json``), or only warnings and
errors (``--quiet``)."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from hpsearch.formatting import fmt

if TYPE_CHECKING:
    from rich.status import Status

    from worker.runner import Task

STATE_STYLES = {"completed": "green", "pruned": "yellow", "aborted": "magenta",
                "failed": "red", "released": "cyan", "dropped": "red"}


def loss_of(metrics: dict[str, Any]) -> Any:
    return metrics.get("train_loss", metrics.get("loss"))


class Progress:
    """The quiet form: warnings and errors on stderr, nothing else."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self._err = Console(stderr=True, highlight=False, soft_wrap=True)

    def event(self, kind: str, message: str, *, level: str = "info", **fields: Any) -> None:
        """Something happened to the worker (started, server unreachable, lease lost, ...)."""
        if level != "info":
            self._err.print(escape(f"[{self.worker}] {level}: {message}"))

    def trial_started(self, task: Task) -> None:
        """A trial was claimed."""

    def epoch(self, task: Task, step: int, metrics: dict[str, Any], elapsed: float) -> None:
        """A step's metrics were reported."""

    def trial_finished(self, task: Task, state: str, metrics: dict[str, Any],
                       reason: str | None, steps: int, elapsed: float) -> None:
        """A trial ended (``state`` may also be "released" or "dropped")."""

    def close(self) -> None:
        """Stop any live display."""


class JsonProgress(Progress):
    """One JSON object per line on stdout: ``{"time", "worker", "event", ...}``."""

    def __init__(self, worker: str) -> None:
        super().__init__(worker)
        self._lock = threading.Lock()

    def _emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"time": round(time.time(), 3), "worker": self.worker,
                           "event": event, **fields}, default=str)
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def event(self, kind: str, message: str, *, level: str = "info", **fields: Any) -> None:
        self._emit(kind, level=level, message=message, **fields)

    def trial_started(self, task: Task) -> None:
        self._emit("trial_started", study=task.study_id, trial=task.id, number=task.number,
                   stage=task.stage, attempt=task.attempt, params=task.params)

    def epoch(self, task: Task, step: int, metrics: dict[str, Any], elapsed: float) -> None:
        self._emit("epoch", study=task.study_id, trial=task.id, number=task.number, step=step,
                   epochs=task.epochs, loss=loss_of(metrics), metric=task.metric,
                   value=metrics.get(task.metric), elapsed_s=round(elapsed, 3))

    def trial_finished(self, task: Task, state: str, metrics: dict[str, Any],
                       reason: str | None, steps: int, elapsed: float) -> None:
        self._emit("trial_finished", study=task.study_id, trial=task.id, number=task.number,
                   stage=task.stage, state=state, steps=steps, metric=task.metric,
                   value=metrics.get(task.metric), reason=reason, elapsed_s=round(elapsed, 3))


class RichProgress(Progress):
    """A line per trial; on a terminal (and when ``live``) a status line per epoch too."""

    def __init__(self, worker: str, *, live: bool = True) -> None:
        super().__init__(worker)
        self._out = Console(highlight=False, soft_wrap=True)
        self._live = live and self._out.is_terminal
        self._status: Status | None = None

    def event(self, kind: str, message: str, *, level: str = "info", **fields: Any) -> None:
        if level == "info":
            self._out.print(f"[dim]{escape(self.worker)}[/] {escape(message)}")
        else:
            super().event(kind, message, level=level)

    def _line(self, task: Task, step: int, metrics: dict[str, Any], elapsed: float) -> str:
        return (
            f"study {task.study_id} trial #{task.number} (stage {task.stage})  "
            f"epoch {step}/{task.epochs}  loss {fmt(loss_of(metrics))}  "
            f"{task.metric} {fmt(metrics.get(task.metric))}  {elapsed:.1f}s"
        )

    def trial_started(self, task: Task) -> None:
        if self._live:
            text = f"study {task.study_id} trial #{task.number} (stage {task.stage}) starting"
            self._status = self._out.status(text)
            self._status.start()

    def epoch(self, task: Task, step: int, metrics: dict[str, Any], elapsed: float) -> None:
        if self._status is not None:
            self._status.update(escape(self._line(task, step, metrics, elapsed)))

    def trial_finished(self, task: Task, state: str, metrics: dict[str, Any],
                       reason: str | None, steps: int, elapsed: float) -> None:
        self.close()
        params = " ".join(f"{k}={fmt(v)}" for k, v in task.params.items())
        style = STATE_STYLES.get(state, "white")
        line = (
            f"study {task.study_id} trial #{task.number} (stage {task.stage}) "
            f"[{style}]{state}[/]  epochs {steps}/{task.epochs}  "
            f"loss {fmt(loss_of(metrics))}  {task.metric} {fmt(metrics.get(task.metric))}  "
            f"{elapsed:.1f}s  [dim]{escape(params)}[/]"
        )
        if reason:
            line += f"\n    [dim]{escape(reason.splitlines()[0])}[/]"
        self._out.print(line)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def make_progress(mode: str, worker: str, *, live: bool = True) -> Progress:
    """``mode``: "rich", "json" or "quiet"."""
    if mode == "json":
        return JsonProgress(worker)
    if mode == "quiet":
        return Progress(worker)
    return RichProgress(worker, live=live)
