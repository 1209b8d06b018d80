"""Small builders for hand-made trial sets."""

from typing import Any

from app.search.space import SearchSpace
from app.search.trials import TrialOutcome


def space(**params: dict[str, Any]) -> SearchSpace:
    return SearchSpace.model_validate(params)


def done(objective: float, epochs: int = 10, **params: Any) -> TrialOutcome:
    return TrialOutcome(params, "completed", objective, epochs)


def pruned(objective: float, epochs: int, **params: Any) -> TrialOutcome:
    return TrialOutcome(params, "pruned", objective, epochs)


def diverged(epochs: int = 1, **params: Any) -> TrialOutcome:
    return TrialOutcome(params, "aborted", None, epochs)


def failed(**params: Any) -> TrialOutcome:
    return TrialOutcome(params, "failed", None, 0)


def stalled(epochs: int = 3, **params: Any) -> TrialOutcome:
    return TrialOutcome(params, "aborted", None, epochs, stalled=True)
