"""Confirmation: train the search's top candidates again with fresh seeds and pick the one
with the best mean, not the single luckiest score (the winner's curse)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from app.search.trials import TrialOutcome, ranked

CONFIRM_SHARE = 0.12  # of a budget plan's epochs, reserved for confirmation
MAX_CONFIRM_TOP = 5
MAX_CONFIRM_REPEATS = 3
MIN_CONFIRM_RUNS = 2  # fewer affordable full-length runs than this: no confirmation


class ConfirmPolicy(BaseModel):
    """A confirmation stage: the search's ``top`` candidates each train ``repeats`` more
    times at full length with fresh seeds, without pruning."""

    model_config = ConfigDict(extra="forbid")

    top: StrictInt = Field(..., ge=1, le=100, description="Candidates to confirm")
    repeats: StrictInt = Field(
        ...,
        ge=1,
        le=20,
        description="New runs per candidate, each with a fresh seed; the candidate's own "
        "run counts as one more when it ran full length",
    )


def budget_confirmation(budget: int, max_epochs: int) -> ConfirmPolicy | None:
    """How a budget plan confirms: ``CONFIRM_SHARE`` of the budget buys ``n`` full-length
    runs; the first ``MAX_CONFIRM_TOP`` go one to a candidate, then every candidate gets
    more repeats, up to ``MAX_CONFIRM_REPEATS`` (``repeats = clamp(n // 5, 1, 3)``,
    ``top = min(5, n // repeats)``). Fewer than ``MIN_CONFIRM_RUNS`` runs: None."""
    n = int(CONFIRM_SHARE * budget) // max_epochs
    if n < MIN_CONFIRM_RUNS:
        return None
    repeats = min(max(n // MAX_CONFIRM_TOP, 1), MAX_CONFIRM_REPEATS)
    return ConfirmPolicy(top=min(MAX_CONFIRM_TOP, n // repeats), repeats=repeats)


def confirmation_cost(policy: ConfirmPolicy, epochs: int) -> int:
    """Epochs a confirmation stage trains at most."""
    return policy.top * policy.repeats * epochs


def candidates(
    trials: Sequence[tuple[int, TrialOutcome]], top: int, *, maximize: bool
) -> list[int]:
    """Ids of the ``top`` best trials, ranked at comparable fidelity (``ranked``); a
    trial whose params repeat a better one's is skipped."""
    by_outcome = {id(outcome): key for key, outcome in trials}
    out: list[int] = []
    seen: list[dict[str, object]] = []
    for outcome in ranked([o for _, o in trials], maximize=maximize):
        if outcome.params in seen:
            continue
        seen.append(outcome.params)
        out.append(by_outcome[id(outcome)])
        if len(out) == top:
            break
    return out


def counts_as_run(outcome: TrialOutcome, epochs: int) -> bool:
    """Whether a candidate's own search run counts among its confirmation runs: it
    completed and was allowed the confirmation's full length."""
    return outcome.state == "completed" and outcome.fidelity >= epochs and outcome.scored


@dataclass(frozen=True)
class Confirmed:
    """One candidate's runs: the objectives of those that finished, and how many did not
    (failed, aborted) or have not yet (queued, running)."""

    candidate: int
    values: list[float]
    unfinished: int = 0
    pending: int = 0

    @property
    def runs(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation; None under two runs."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None


def confirmed(
    runs: Mapping[int, Sequence[TrialOutcome | None]], *, epochs: int
) -> list[Confirmed]:
    """Each candidate's runs summarized: ``runs[c]`` holds the candidate's own outcome
    first (kept only if it ``counts_as_run``), then its repeats, None for one not ended."""
    out = []
    for candidate, outcomes in runs.items():
        own, *repeats = outcomes
        values = [own.objective] if own and counts_as_run(own, epochs) else []
        unfinished = pending = 0
        for r in repeats:
            if r is None:
                pending += 1
            elif r.scored and r.state == "completed":
                assert r.objective is not None
                values.append(r.objective)
            else:
                unfinished += 1
        finite = [v for v in values if v is not None and math.isfinite(v)]
        out.append(Confirmed(candidate, finite, unfinished, pending))
    return out


def pick(summaries: Sequence[Confirmed], *, maximize: bool) -> Confirmed | None:
    """The candidate with the best mean over its finished runs (ties: the earlier
    candidate, i.e. the better-ranked one); None if no candidate has a finished run."""
    sign = -1.0 if maximize else 1.0
    scored = [(sign * s.mean, i, s) for i, s in enumerate(summaries) if s.mean is not None]
    return min(scored, key=lambda x: (x[0], x[1]))[2] if scored else None


def pick_reason(chosen: Confirmed) -> str:
    """Why a candidate is the pick, in words."""
    runs = f"{chosen.runs} run{'s' if chosen.runs != 1 else ''}"
    text = f"best mean of {runs}"
    if chosen.unfinished == 1:
        text += " (1 more run did not finish and is left out)"
    elif chosen.unfinished:
        text += f" ({chosen.unfinished} more runs did not finish and are left out)"
    return text
