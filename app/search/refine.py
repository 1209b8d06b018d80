"""Coarse-to-fine: narrow a search space around the winners of a finished stage."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from app.search.confirm import budget_confirmation, confirmation_cost
from app.search.edges import (
    SearchWarning,
    cluster_warnings,
    divergence_warnings,
    edge_warnings,
    numeric_params,
    usable,
)
from app.search.limits import Domains, hard_sides, kept_limits, scale_domain
from app.search.pruning import default_pruning
from app.search.space import (
    Choice,
    IntParam,
    NumericParam,
    Param,
    SearchSpace,
    same_value,
)
from app.search.trials import TrialOutcome, top_trials
from hpsearch.bounds import INT32_MAX

STAGE_SHARES = (0.3, 0.3, 0.4)
MAX_TOP_K = 1_000_000
MAX_MARGIN = 100.0
MIN_STAGED_TRIALS = 30


class RefinePolicy(BaseModel):
    """How a finished stage narrows the space for the next one."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    top_k: float = Field(
        0.2,
        gt=0,
        le=MAX_TOP_K,
        description="The winners: a fraction of the stage's trials when < 1, else a count.",
    )
    method: Literal["quantile", "span"] = Field(
        "quantile",
        description=(
            "How the new range is drawn around the winners, per parameter in its own scale: "
            "'quantile' = from the trim to the 1 - trim quantile of the winners (outliers "
            "cut); 'span' = the winners' min..max (the lecture's rule)."
        ),
    )
    margin: float = Field(
        0.25,
        ge=0,
        le=MAX_MARGIN,
        description="Widen the winners' interval on each side by this fraction of its width.",
    )
    trim: float = Field(
        0.1,
        ge=0,
        lt=0.5,
        description="For method 'quantile': the quantile cut from each end of the winners.",
    )
    min_width: float = Field(
        0.1,
        gt=0,
        le=1,
        description=(
            "Minimum new width as a fraction of the current width (in scale space), "
            "so a single winner never collapses a range."
        ),
    )
    on_edge: Literal["narrow", "expand"] = Field(
        "narrow",
        description=(
            "When winners sit at the edge of a range: 'narrow' stays inside it; 'expand' "
            "moves that side outward by half the current width (in scale space)."
        ),
    )
    edge_fraction: float = Field(
        0.1,
        ge=0,
        lt=0.5,
        description="The outer part of a range (fraction of its width in scale space) "
        "that counts as its edge.",
    )
    min_choice_trials: StrictInt = Field(
        3,
        ge=1,
        le=INT32_MAX,
        description="A choice value tried fewer times than this is kept even if no winner "
        "used it (too few trials to judge).",
    )

    @field_validator("top_k")
    @classmethod
    def _whole_count(cls, v: float) -> float:
        if v >= 1 and not float(v).is_integer():
            raise ValueError("top_k must be a fraction (< 1) or a whole count")
        return v


def refine(
    space: SearchSpace,
    trials: Sequence[TrialOutcome],
    policy: RefinePolicy,
    *,
    maximize: bool = True,
    domains: Domains | None = None,
) -> tuple[SearchSpace, list[SearchWarning]]:
    """Narrow ``space`` around the top ``trials`` of a stage; also report what it taught.

    Numeric ranges narrow in their own scale, never to a point and never outside the
    current range (except a side that ``on_edge='expand'`` pushes out, never past a hard
    limit nor out of the parameter's ``domains`` entry); a side beyond which every trial
    diverged is cut at the first diverged value. Choices keep the values the winners used
    and those still undecided; fixed parameters stay. With no scored trial (e.g.
    everything diverged) the space is returned unchanged, with warnings.
    """
    top = top_trials(trials, policy.top_k, maximize=maximize)
    if not top:
        return space, _nothing_completed(space, trials)
    edges = edge_warnings(
        space,
        trials,
        maximize=maximize,
        edge_fraction=policy.edge_fraction,
        top_k=policy.top_k,
        domains=domains,
    )
    divergence = divergence_warnings(space, trials)
    params: dict[str, Param] = dict(space.params)
    for name, p in numeric_params(space).items():
        sides = {w.side: w for w in divergence if w.param == name}
        domain = (domains or {}).get(name)
        expand = set()
        if policy.on_edge == "expand":
            hard = hard_sides(p, domain, policy.edge_fraction)
            expand = {
                w.side for w in edges if w.param == name and w.side not in set(sides) | hard
            }
        bounds = scale_domain(p, domain)
        params[name] = _narrow_numeric(name, p, top, policy, sides, expand, bounds)
    for name, param in space.params.items():
        if isinstance(param, Choice):
            params[name] = _narrow_choice(name, param, top, trials, policy)
    return SearchSpace(params), edges + divergence


def _nothing_completed(
    space: SearchSpace, trials: Sequence[TrialOutcome]
) -> list[SearchWarning]:
    counts = {s: sum(t.state == s for t in trials) for s in ("aborted", "failed", "pruned")}
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no trials"
    message = f"no trial completed ({tally}); the space is left unchanged"
    first = SearchWarning("no_completed", None, None, message, [], None)
    return [first, *cluster_warnings(space, trials)]


def _narrow_numeric(
    name: str,
    p: NumericParam,
    top: Sequence[TrialOutcome],
    policy: RefinePolicy,
    divergence: dict[str | None, SearchWarning],
    expand: set[str | None],
    bounds: tuple[float, float],
) -> NumericParam:
    xs = sorted(p.to_scale(t.params[name]) for t in top if usable(p, t.params.get(name)))
    if not xs:
        return p
    a, b = _winners_interval(xs, policy)
    a, b = a - policy.margin * (b - a), b + policy.margin * (b - a)
    lo, hi = p.scale_bounds()
    width = hi - lo
    if "lower" in divergence:
        lo = max(lo, p.to_scale(divergence["lower"].values[0]))
    if "upper" in divergence:
        hi = min(hi, p.to_scale(divergence["upper"].values[0]))
    if "lower" in expand:
        lo = a = max(lo - width / 2, bounds[0])
    if "upper" in expand:
        hi = b = min(hi + width / 2, bounds[1])
    a, b = _fit(a, b, lo, hi, policy.min_width * width)
    return _rebuild(p, a, b)


def _winners_interval(xs: list[float], policy: RefinePolicy) -> tuple[float, float]:
    """The interval, in scale space, that the winners ``xs`` (sorted) point at."""
    if policy.method == "quantile":
        low, high = np.quantile(xs, [policy.trim, 1 - policy.trim])
        return float(low), float(high)
    return xs[0], xs[-1]


def _fit(a: float, b: float, lo: float, hi: float, min_width: float) -> tuple[float, float]:
    """Clip ``[a, b]`` to ``[lo, hi]``, then grow it to ``min_width`` inside ``[lo, hi]``."""
    a, b = max(a, lo), min(b, hi)
    if b - a >= min_width:
        return a, b
    if hi - lo <= min_width:
        return lo, hi
    centre = (a + b) / 2
    a = min(max(centre - min_width / 2, lo), hi - min_width)
    return a, a + min_width


def _rebuild(p: NumericParam, a: float, b: float) -> NumericParam:
    lo, hi = p.scale_bounds()
    if isinstance(p, IntParam):
        low = math.floor(p.from_scale(a) + 1e-9) if a != lo else p.low
        high = math.ceil(p.from_scale(b) - 1e-9) if b != hi else p.high
        if p.log:
            low = max(low, 1)
        if low >= high:
            low, high = (low, low + 1) if low < p.high else (high - 1, high)
        return IntParam(low=low, high=high, log=p.log, limits=kept_limits(p, low, high))
    low_v = p.low if a == lo else p.from_scale(a)
    high_v = p.high if b == hi else p.from_scale(b)
    return type(p)(low=low_v, high=high_v, limits=kept_limits(p, low_v, high_v))


def _narrow_choice(
    name: str,
    p: Choice,
    top: Sequence[TrialOutcome],
    trials: Sequence[TrialOutcome],
    policy: RefinePolicy,
) -> Choice:
    ran = [t for t in trials if t.state != "failed" and name in t.params]

    def keep(v: object) -> bool:
        won = any(name in t.params and same_value(t.params[name], v) for t in top)
        tried = sum(same_value(t.params[name], v) for t in ran)
        return won or tried < policy.min_choice_trials

    return Choice(values=[v for v in p.values if keep(v)] or list(p.values))


def default_plan(
    budget: int, *, max_epochs: int = 50, confirm: bool = True
) -> list[dict[str, Any]]:
    """The default coarse-to-fine plan for a budget of trained epochs (see benchmarks/README).

    First a confirmation is reserved (``budget_confirmation``: about 12% of the budget, so
    many full-length runs of the top few candidates with fresh seeds, or none when the
    budget buys fewer than two); the rest is searched. Three search stages spend 30%, 30%
    and 40% of it; every trial may run ``max_epochs`` and median pruning (from epoch 1)
    stops most of them after a few epochs, so each stage is cheap-and-wide first and
    full-length only for trials that keep up. A budget under ``MIN_STAGED_TRIALS`` full
    trials gets one search stage. Each search stage: ``epochs`` per trial, its ``budget``
    (it keeps sampling until spent), ``sampler``, ``pruning`` and the ``refine`` policy
    applied when it ends (``None`` for the last). The confirmation stage, last: ``epochs``
    and ``confirm`` (``top``, ``repeats``), no pruning, its cost inside ``budget``. With
    ``confirm=False`` the search stages spend the whole budget.
    """
    policy = budget_confirmation(budget, max_epochs) if confirm else None
    search = budget - (confirmation_cost(policy, max_epochs) if policy else 0)
    shares = STAGE_SHARES if budget >= MIN_STAGED_TRIALS * max_epochs else (1.0,)
    plan: list[dict[str, Any]] = []
    for i, share in enumerate(shares):
        last = i == len(shares) - 1
        spent = sum(s["budget"] for s in plan)
        plan.append(
            {
                "epochs": max_epochs,
                "budget": search - spent if last else round(share * search),
                "sampler": "sobol",
                "pruning": default_pruning(max_epochs).model_dump(),
                "refine": None if last else RefinePolicy().model_dump(),
            }
        )
    if policy is not None:
        plan.append({"epochs": max_epochs, "confirm": policy.model_dump()})
    return plan
