"""Warnings a finished stage teaches: winners at the edge of a range, and divergence."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.search.limits import Domains, hard_sides
from app.search.space import Choice, Fixed, NumericParam, SearchSpace
from app.search.trials import TrialOutcome, top_trials

DEFAULT_TOP_K = 0.2
MIN_DIVERGED = 3
MIN_CLUSTER = 4
CLUSTER_FRACTION = 1 / 3


@dataclass(frozen=True)
class SearchWarning:
    """Something a user should know about a stage, e.g. a winner at the edge of a range.

    ``kind`` is ``edge``, ``divergence`` or ``no_completed``; ``side`` is ``lower`` or
    ``upper`` when it applies; ``values`` are the parameter values behind the warning and
    ``range`` the parameter's range at the time.
    """

    kind: str
    param: str | None
    side: str | None
    message: str
    values: list[float]
    range: tuple[float, float] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "param": self.param,
            "side": self.side,
            "message": self.message,
            "values": list(self.values),
            "range": list(self.range) if self.range is not None else None,
        }


def warning_key(w: SearchWarning) -> tuple[Any, ...]:
    """What makes two warnings say the same thing: an edge warning is about one side of
    one bound (a plan that kept the bound would otherwise repeat it every stage); any
    other warning about its exact words."""
    if w.kind == "edge" and w.range is not None:
        bound = w.range[0] if w.side == "lower" else w.range[1]
        return (w.kind, w.param, w.side, float(f"{bound:.12g}"))
    return (w.kind, w.param, w.side, w.message)


def numeric_params(space: SearchSpace) -> dict[str, NumericParam]:
    return {
        n: p for n, p in space.params.items() if not isinstance(p, Choice | Fixed)
    }


def usable(p: NumericParam, value: Any) -> bool:
    """A finite number that has a place in the parameter's scale (> 0 for log)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 or not p.is_log)
    )


def position(p: NumericParam, value: float) -> float:
    """Where ``value`` sits in the range, in scale space: 0 at low, 1 at high."""
    lo, hi = p.scale_bounds()
    return (p.to_scale(value) - lo) / (hi - lo)


def fmt(p: NumericParam, value: float) -> str:
    """Short human form: ``512``, ``0.25``, ``8.7e-4``."""
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    if p.is_log and not 0.1 <= abs(value) < 1e4:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa.removesuffix('.0')}e{int(exponent)}"
    return f"{value:.3g}"


def fmt_range(p: NumericParam) -> str:
    return f"[{fmt(p, p.low)}, {fmt(p, p.high)}]"


def edge_warnings(
    space: SearchSpace,
    trials: Sequence[TrialOutcome],
    *,
    maximize: bool,
    edge_fraction: float = 0.1,
    top_k: float = DEFAULT_TOP_K,
    domains: Domains | None = None,
) -> list[SearchWarning]:
    """Warn when the best trial, or most of the top trials, sit in the outer
    ``edge_fraction`` of a numeric range (in scale space). At a hard limit (see
    ``app.search.limits``) the warning says so instead of advising to widen."""
    top = top_trials(trials, top_k, maximize=maximize)
    out = []
    for name, p in numeric_params(space).items():
        values = [t.params[name] for t in top if usable(p, t.params.get(name))]
        if not values:
            continue
        hard = hard_sides(p, (domains or {}).get(name), edge_fraction)
        for side in ("lower", "upper"):
            at_edge = [v for v in values if _at_edge(p, v, side, edge_fraction)]
            best_at_edge = _at_edge(p, values[0], side, edge_fraction)
            if not best_at_edge and 2 * len(at_edge) <= len(values):
                continue
            if best_at_edge:
                what = f"best {name} {fmt(p, values[0])} sits"
            else:
                what = f"{len(at_edge)} of the top {len(values)} {name} values sit"
            if side in hard:
                advice = ", a hard limit: the range does not widen past it"
            else:
                advice = "; widen the range " + ("upwards" if side == "upper" else "downwards")
            message = f"{what} at the {side} edge of {fmt_range(p)}{advice}"
            out.append(
                SearchWarning("edge", name, side, message, at_edge, (p.low, p.high))
            )
    return out


def divergence_warnings(
    space: SearchSpace, trials: Sequence[TrialOutcome], *, min_diverged: int = MIN_DIVERGED
) -> list[SearchWarning]:
    """Per numeric parameter, a boundary beyond which every trial diverged (was aborted).

    Reported only for a clean separation: at least ``min_diverged`` aborted trials beyond
    the most extreme trial that did not diverge, and no such trial beyond it.
    """
    out = []
    for name, p in numeric_params(space).items():
        survived = _values(p, trials, name, ("completed", "pruned"))
        if not survived:
            continue
        for side, bound in (("upper", max(survived)), ("lower", min(survived))):
            outside = [t for t in trials if t.state == "aborted" and usable(p, t.params.get(name))
                       and (t.params[name] > bound if side == "upper"
                            else t.params[name] < bound)]
            if len(outside) < min_diverged:
                continue
            beyond = sorted((t.params[name] for t in outside), reverse=side == "lower")
            sign = ">" if side == "upper" else "<"
            kind, what = _aborted_words(outside)
            message = (
                f"every trial with {name} {sign} {fmt(p, bound)} {what} "
                f"({len(beyond)} of {len(beyond)})"
            )
            out.append(SearchWarning(kind, name, side, message, beyond, (p.low, p.high)))
    return out


def _aborted_words(aborted: Sequence[TrialOutcome]) -> tuple[str, str]:
    """The warning kind and the verb for aborted trials: diverged, stalled, or both."""
    stalled = sum(t.stalled for t in aborted)
    if not stalled:
        return "divergence", "diverged"
    if stalled == len(aborted):
        return "stall", "stalled at chance"
    return "divergence", (f"was aborted: {len(aborted) - stalled} diverged, {stalled} "
                          "stalled at chance")


def cluster_warnings(
    space: SearchSpace, trials: Sequence[TrialOutcome], *, min_diverged: int = MIN_CLUSTER
) -> list[SearchWarning]:
    """Parameters whose diverged trials all sit in the outer third of the range at one end.

    Meant for a stage where nothing completed: it points at the parameter to move.
    """
    out = []
    for name, p in numeric_params(space).items():
        aborted = [t for t in trials if t.state == "aborted" and usable(p, t.params.get(name))]
        diverged = [t.params[name] for t in aborted]
        if len(diverged) < min_diverged:
            continue
        for side in ("lower", "upper"):
            if not all(_at_edge(p, v, side, CLUSTER_FRACTION) for v in diverged):
                continue
            way = "lower" if side == "upper" else "higher"
            kind, what = _aborted_words(aborted)
            n = len(diverged)
            who = {"diverged": f"{n} diverged trials",
                   "stalled at chance": f"{n} trials that stalled at chance"}.get(
                       what, f"{n} aborted trials ({what.split(': ', 1)[-1]})")
            message = (
                f"all {who} have {name} in the {side} third of "
                f"{fmt_range(p)} ({fmt(p, min(diverged))} to {fmt(p, max(diverged))}); "
                f"try {way} values"
            )
            out.append(SearchWarning(kind, name, side, message, sorted(diverged),
                                     (p.low, p.high)))
    return out


def _values(
    p: NumericParam, trials: Sequence[TrialOutcome], name: str, states: tuple[str, ...]
) -> list[float]:
    return [
        t.params[name] for t in trials if t.state in states and usable(p, t.params.get(name))
    ]


def _at_edge(p: NumericParam, value: float, side: str, fraction: float) -> bool:
    u = position(p, value)
    return u >= 1 - fraction if side == "upper" else u <= fraction
