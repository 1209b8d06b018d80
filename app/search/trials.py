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
    """One finished trial: its parameters, end state, objective and the epochs it ran.

    ``aborted`` means the worker's early abort fired: the trial diverged, or (``stalled``)
    it stalled at chance; ``pruned`` that a pruning rule stopped it (its objective is then
    the value when it stopped), ``failed`` an error.
    """

    params: dict[str, Any]
    state: str
    objective: float | None
    epochs: int = 0
    stalled: bool = False

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown trial state {self.state!r}; one of {', '.join(STATES)}")

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
    """Scored trials, best first.

    Completed trials come first, by objective; pruned ones follow, those that ran longer
    first (they survived more checks), then by objective.
    """
    sign = -1.0 if maximize else 1.0

    def key(t: TrialOutcome) -> tuple[int, int, float]:
        assert t.objective is not None
        if t.state == "completed":
            return (0, 0, sign * t.objective)
        return (1, -t.epochs, sign * t.objective)

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
