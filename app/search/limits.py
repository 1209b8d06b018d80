"""Hard limits of numeric ranges: sides that refinement may not widen past.

A side is hard when the user marked it in the parameter's ``limits`` (a cap set on
purpose), or when the values the parameter can take at all (its ``Domain``: dropout lives
in [0, 1), a learning rate above 0) leave less room beyond it than the edge zone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from app.search.space import NumericParam, Side

SIDES = {"low": "lower", "high": "upper"}
OPEN_END_MARGIN = 0.01


@dataclass(frozen=True)
class Domain:
    """The values a parameter can take at all; an open end excludes its bound."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False


Domains = Mapping[str, Domain]


def scale_domain(p: NumericParam, domain: Domain | None) -> tuple[float, float]:
    """The domain in ``p``'s scale space, open ends pulled in by a hair of the range."""
    if domain is None:
        return -math.inf, math.inf
    lo, hi = p.scale_bounds()
    hair = OPEN_END_MARGIN * (hi - lo)
    low = -math.inf if p.is_log and domain.low <= 0 else _scale(p, domain.low)
    high = _scale(p, domain.high)
    if domain.low_open and math.isfinite(low):
        low += hair
    if domain.high_open and math.isfinite(high):
        high -= hair
    return low, high


def hard_sides(p: NumericParam, domain: Domain | None, edge_fraction: float) -> set[str]:
    """Sides (``lower``/``upper``) of ``p``'s range that must not move outward."""
    sides = {SIDES[s] for s in p.limits}
    lo, hi = p.scale_bounds()
    room = edge_fraction * (hi - lo)
    d_lo, d_hi = scale_domain(p, domain)
    if lo - d_lo <= room:
        sides.add("lower")
    if d_hi - hi <= room:
        sides.add("upper")
    return sides


def kept_limits(p: NumericParam, low: float, high: float) -> tuple[Side, ...]:
    """The user's limits that still hold for a range refined to ``[low, high]``."""
    return tuple(s for s in p.limits if (low if s == "low" else high) == getattr(p, s))


def _scale(p: NumericParam, value: float) -> float:
    return value if math.isinf(value) else p.to_scale(value)
