"""``Trial``: one claimed trial as user code sees it. Its lease (``hpsearch.lease``) is
kept alive from a background thread; the trial reports each step and ends itself.

How a trial ends:

- the ``with trial:`` block (or the loop body of ``study.trials()``) ends normally:
  ``completed`` with the last reported metrics, or ``pruned`` when the server said stop;
- an exception inside ``with trial:``: ``failed``, with the exception's summary and the
  last lines of its traceback (re-raised unless the study's loop was told to ``catch`` it);
- Ctrl-C (``KeyboardInterrupt``) or ``SystemExit``: released back to the queue;
- ``trial.abort(reason)``: ``aborted``, the user's own early abort;
- the lease was lost (the trial went to someone else): nothing more is written; the next
  ``report`` returns True (stop) and the trial's ``state`` is ``"lost"``.

The user's thread is never interrupted: a lost lease shows up at the next ``report``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from hpsearch.http import ApiError, Unreachable
from hpsearch.lease import Lease, LeaseLost, checked_report, failure_reason
from hpsearch.wire import FinalState, plain

log = logging.getLogger("hpsearch")
Catch = tuple[type[BaseException], ...]
LEFT_EARLY = ("the trial loop was left before the trial ended (an exception, break or "
              "return outside `with trial:`)")


class Trial:
    """One trial under lease: its ``params`` and budget, ``report`` per step, and how it
    ends (see the module docstring). Use as ``with trial:`` to record exceptions."""

    def __init__(self, lease: Lease, *, catch: Catch = ()) -> None:
        self._lease = lease
        self._catch = catch
        self._result: dict[str, Any] | None = None
        self.state: str | None = None  # how it ended; None while it runs
        task = lease.task
        self.id, self.study_id, self.number = task.id, task.study_id, task.number
        self.stage, self.epochs, self.seed = task.stage, task.epochs, task.seed
        self.attempt, self.metric, self.direction = task.attempt, task.metric, task.direction
        self.params: dict[str, Any] = dict(task.params)
        self.settings: dict[str, Any] = dict(task.settings)

    def __repr__(self) -> str:
        return (f"Trial(id={self.id}, study={self.study_id}, number={self.number}, "
                f"stage={self.stage}, params={self.params!r}, state={self.state!r})")

    # -- while it runs -------------------------------------------------------------------

    @property
    def should_stop(self) -> bool:
        """The server pruned it, the lease was lost, or it has ended."""
        return self.state is not None or self._lease.should_stop or self._lease.lost

    @property
    def lease_lost(self) -> bool:
        return self._lease.lost

    @property
    def last_metrics(self) -> dict[str, Any]:
        """The metrics of the last step reported."""
        return dict(self._lease.last)

    def report(self, step: int, metrics: Mapping[str, Any] | None = None, /,
               **values: Any) -> bool:
        """Store step ``step``'s metrics (``metrics`` and/or keyword values); True means
        stop now: the server pruned the trial, or its lease went to someone else (then
        nothing was written). Retried while the server is unreachable; raises
        ``hpsearch.Unreachable`` when it stays away."""
        step, checked = checked_report(step, {**(metrics or {}), **values}, self.epochs)
        if not checked:
            raise TypeError("report(step, metrics): give at least one metric")
        if self.should_stop:
            return True
        try:
            return self._lease.report(step, checked)
        except LeaseLost as exc:
            log.warning("trial %s: %s; another worker has it now, stopping", self.id, exc)
            return True

    def abort(self, reason: str, metrics: Mapping[str, Any] | None = None) -> None:
        """End the trial now as ``aborted`` (your own early abort), with ``metrics`` or the
        last reported ones."""
        self._end("aborted", metrics, reason)

    def set_result(self, metrics: Mapping[str, Any]) -> None:
        """The final metrics to finish with, instead of the last step's."""
        self._result = plain(metrics)

    # -- ending --------------------------------------------------------------------------

    def __enter__(self) -> Trial:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        self.close(exc)
        return isinstance(exc, Exception) and isinstance(exc, self._catch)

    def close(self, exc: BaseException | None = None) -> None:
        """End the trial as its block ended: normally (``exc`` None), by an exception, or
        by an interrupt. Does nothing once the trial has ended."""
        if self.state is not None:
            return
        if exc is None:
            if self._lease.should_stop:
                self._end("pruned", None, self._lease.prune_reason())
            else:
                self._end("completed", None, None)
        elif isinstance(exc, KeyboardInterrupt | SystemExit):
            self._release(f"interrupted ({type(exc).__name__})")
        else:
            reason = failure_reason(exc)
            self._end("failed", None, reason, quiet=True)
            if isinstance(exc, self._catch):
                log.warning("trial %s failed: %s", self.id, reason)

    def left_early(self, *, interrupted: bool) -> None:
        """The loop around the trial was left while it ran (from ``study.trials()``)."""
        if self.state is not None:
            return
        if interrupted:
            self._release("interrupted (KeyboardInterrupt)")
        else:
            self._end("failed", None, LEFT_EARLY, quiet=True)

    def _end(self, state: FinalState, metrics: Mapping[str, Any] | None, reason: str | None,
             *, quiet: bool = False) -> None:
        """Finish on the server. ``quiet``: a failure to send is logged, not raised (an
        exception is already on its way out)."""
        if self.state is not None:
            raise RuntimeError(f"trial {self.id} has already ended ({self.state})")
        final = plain(metrics) if metrics is not None else self._result or self._lease.last
        self._lease.stop_heartbeat()
        if self._lease.lost:
            self.state = "lost"
            log.warning("trial %s: the lease was lost; its result is not stored", self.id)
            return
        try:
            self._lease.finish(state, dict(final), reason)
        except LeaseLost:
            self.state = "lost"
            log.warning("trial %s: the lease was lost; its result is not stored", self.id)
            return
        except (ApiError, Unreachable) as exc:
            self.state = "unsent"
            if not quiet:
                raise
            log.warning("trial %s: could not store its end (%s): %s", self.id, state, exc)
            return
        self.state = state

    def _release(self, reason: str) -> None:
        self._lease.stop_heartbeat()
        self.state = "released"
        if self._lease.lost:
            return
        try:
            self._lease.release(reason, quick=True)
        except (ApiError, Unreachable, LeaseLost) as exc:
            log.warning("trial %s: could not release it (%s); it returns to the queue when "
                        "its lease expires", self.id, exc)
