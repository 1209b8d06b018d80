"""Finished trials as the search logic sees them, and how they rank."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STATES = ("completed", "aborted", "pruned", "failed")
STALL_PREFIX = "stalled"  # how the trainer's reason for a stall at chance begins


@dataclass(frozen=True)
class TrialOutcome:
    """One finished trial: its parameters, end state, objective, the epochs it ran and the
    epochs it was allowed (``allowed``; a budget stage cuts its last trials short).

    ``aborted`` means the worker's early abort fired: the trial diverged, or (``stalled``)
    it stalled at chance; ``pruned`` that a pruning rule stopped it (its objective is then
    the value when it stopped), ``failed`` an error.
    """

    params: dict[str, Any]
    state: str
    objective: float | None
    epochs: int = 0
    allowed: int | None = None
    stalled: bool = False

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown trial state {self.state!r}; one of {', '.join(STATES)}")

    @property
    def fidelity(self) -> float:
        """How long the objective was measured: a completed trial counts the epochs it was
        allowed (it may report fewer: a custom objective reports when it likes), and with
        no ``allowed`` it counts as full length; any other trial counts the epochs run."""
        if self.state != "completed":
            return self.epochs
        return math.inf if self.allowed is None else max(self.allowed, self.epochs)

    @property
    def scored(self) -> bool:
        """Completed or pruned with a finite objective: usable for ranking."""
        return (
            self.state in ("completed", "pruned")
            and self.objective is not None
            and math.isfinite(self.objective)
        )


def stalled_reason(reason: str | None) -> bool:
    """Whether an abort reason says the trial stalled at chance (rather than diverged)."""
    return reason is not None and reason.startswith(STALL_PREFIX)


def ranked(trials: Sequence[TrialOutcome], *, maximize: bool) -> list[TrialOutcome]:
    """Scored trials, best first, compared at equal fidelity.

    Trials measured longer come first (they survived more pruning checks), then by
    objective: a full-length completed trial above a pruned one, and a pruned 20-epoch
    run above a trial that completed a 3-epoch remainder of a budget.
    """
    sign = -1.0 if maximize else 1.0

    def key(t: TrialOutcome) -> tuple[float, float]:
        assert t.objective is not None
        return (-t.fidelity, sign * t.objective)

    return sorted((t for t in trials if t.scored), key=key)


def top_count(top_k: float, n: int) -> int:
    """Size of the top: ``top_k`` of ``n`` when it is a fraction (< 1), else a count."""
    k = round(top_k * n) if top_k < 1 else int(top_k)
    return min(max(k, 1), n)


def top_trials(
    trials: Sequence[TrialOutcome], top_k: float, *, maximize: bool
) -> list[TrialOutcome]:
    """The best trials; a fraction counts every trial that ran to an end (not failed)."""
    n = sum(t.state != "failed" for t in trials)
    return ranked(trials, maximize=maximize)[: top_count(top_k, n)]
