"""Server-side pruning rules: decide, per epoch report, whether a trial should stop.

Epochs count from 1 (``epoch`` = epochs trained so far). The caller passes the values the
stage's other trials reported at that same epoch; passing each trial's best value so far
(rather than the last one) makes the rules robust to noisy curves.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from hpsearch.bounds import INT32_MAX

Others = Mapping[int, Sequence[float]] | Callable[[int], Sequence[float]]


class PruningPolicy(BaseModel):
    """When the server stops a trial that looks worse than its peers."""

    model_config = ConfigDict(extra="forbid")

    rule: Literal["none", "median", "asha"] = Field(
        "median",
        description=(
            "'median': stop a trial whose value is worse than the median of the other "
            "trials at the same epoch; 'asha': asynchronous successive halving, checked at "
            "rungs min_epochs * reduction_factor**k; 'none': never stop."
        ),
    )
    warmup_epochs: StrictInt = Field(
        0, ge=0, le=INT32_MAX, description="No trial is stopped at or before this epoch."
    )
    min_trials: StrictInt = Field(
        4,
        ge=1,
        le=INT32_MAX,
        description="Other trials that must have reported at an epoch before it is judged.",
    )
    reduction_factor: StrictInt = Field(
        3,
        ge=2,
        le=INT32_MAX,
        description="ASHA: only the top 1/reduction_factor at a rung continue.",
    )
    min_epochs: StrictInt = Field(
        1, ge=1, le=INT32_MAX, description="ASHA: the epoch of the first rung."
    )


def asha_rungs(policy: PruningPolicy, max_epochs: int) -> list[int]:
    """Epochs at which ASHA judges: ``min_epochs * reduction_factor**k`` below the end."""
    rungs, r = [], policy.min_epochs
    while r < max_epochs:
        rungs.append(r)
        r *= policy.reduction_factor
    return rungs


def should_prune(
    policy: PruningPolicy,
    *,
    epoch: int,
    value: float,
    others: Others,
    maximize: bool,
    max_epochs: int,
) -> bool:
    """Whether a trial that reported ``value`` at ``epoch`` should stop now.

    ``others[epoch]`` (or ``others(epoch)``) are the values the other trials of the stage
    reported at that epoch. Never prunes during warm-up, at the last epoch, or with fewer
    than ``min_trials`` finite peer values; a non-finite ``value`` is pruned when judged.
    """
    if policy.rule == "none" or epoch <= policy.warmup_epochs or epoch >= max_epochs:
        return False
    if policy.rule == "asha" and epoch not in asha_rungs(policy, max_epochs):
        return False
    peers = others(epoch) if callable(others) else others.get(epoch, ())
    finite = [v for v in peers if math.isfinite(v)]
    if len(finite) < policy.min_trials:
        return False
    if not math.isfinite(value):
        return True
    sign = 1.0 if maximize else -1.0
    if policy.rule == "median":
        return sign * value < sign * statistics.median(finite)
    keep = max((len(finite) + 1) // policy.reduction_factor, 1)
    better = sum(sign * v > sign * value for v in finite)
    return better >= keep


def default_pruning(epochs: int) -> PruningPolicy:
    """The pruning a stage of ``epochs`` epochs gets by default: median from the first
    epoch on (what won benchmarks/bench_search.py), none for stages of <= 2 epochs."""
    if epochs <= 2:
        return PruningPolicy(rule="none")
    return PruningPolicy(rule="median", warmup_epochs=0, min_trials=4)
