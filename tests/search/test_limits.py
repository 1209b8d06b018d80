"""Hard limits and fidelity: what refinement may not widen, and ranking at equal length."""

import math

import pytest
from pydantic import ValidationError

from app.search.edges import edge_warnings
from app.search.limits import Domain
from app.search.refine import RefinePolicy, refine
from app.search.space import SearchSpace, Uniform
from app.search.trials import TrialOutcome, ranked
from tests.search.helpers import done, space

EXPAND = RefinePolicy(on_edge="expand", top_k=3)
DROPOUT = Domain(0.0, 1.0, high_open=True)


def at_low(name: str, low: float, high: float) -> list[TrialOutcome]:
    """Winners crowd the low end of ``[low, high]``, losers fill the rest."""
    width = high - low
    top = [done(0.9 + i / 100, **{name: low + width * i / 100}) for i in range(3)]
    rest = [done(0.2, **{name: low + width * (0.3 + i / 10)}) for i in range(7)]
    return top + rest


def test_a_side_marked_as_a_limit_is_not_widened_and_the_warning_says_why() -> None:
    s = space(width={"type": "uniform", "low": 0.0, "high": 0.5, "limits": ["low"]})
    new, warnings = refine(s, at_low("width", 0.0, 0.5), EXPAND)
    (edge,) = [w for w in warnings if w.kind == "edge"]
    assert edge.side == "lower" and "hard limit" in edge.message
    assert "widen the range" not in edge.message
    p = new.params["width"]
    assert isinstance(p, Uniform) and p.low == 0.0 and p.limits == ("low",)


def test_without_the_limit_the_same_winners_widen_downwards() -> None:
    s = space(width={"type": "uniform", "low": 0.0, "high": 0.5})
    new, warnings = refine(s, at_low("width", 0.0, 0.5), EXPAND)
    assert any("widen the range downwards" in w.message for w in warnings)
    assert new.params["width"].low < 0.0


def test_a_domain_bound_makes_its_side_hard_without_the_user_marking_it() -> None:
    s = space(dropout={"type": "uniform", "low": 0.0, "high": 0.5})
    trials = at_low("dropout", 0.0, 0.5)
    warnings = edge_warnings(s, trials, maximize=True, domains={"dropout": DROPOUT})
    assert warnings and "hard limit" in warnings[0].message
    new, _ = refine(s, trials, EXPAND, domains={"dropout": DROPOUT})
    assert new.params["dropout"].low == 0.0


def test_expansion_stops_inside_an_open_domain_end() -> None:
    s = space(momentum={"type": "uniform", "low": 0.3, "high": 0.8})
    top = [done(0.9, momentum=0.8 - i / 1000) for i in range(3)]
    rest = [done(0.1, momentum=0.3 + i / 20) for i in range(7)]
    new, warnings = refine(s, top + rest, EXPAND, domains={"momentum": DROPOUT})
    assert any("widen the range upwards" in w.message for w in warnings)
    assert 0.8 < new.params["momentum"].high < 1.0


def test_a_log_domain_at_zero_never_blocks_widening_downwards() -> None:
    s = space(lr={"type": "log_uniform", "low": 1e-6, "high": 1e-1})
    top = [done(0.9, lr=1e-6 * (1 + i / 10)) for i in range(3)]
    rest = [done(0.1, lr=10 ** (-5 + i / 2)) for i in range(7)]
    new, _ = refine(s, top + rest, EXPAND, domains={"lr": Domain(0.0, math.inf, True)})
    assert new.params["lr"].low < 1e-6


def test_a_limit_is_dropped_once_refinement_moves_its_side() -> None:
    s = space(width={"type": "uniform", "low": 0.0, "high": 1.0, "limits": ["low", "high"]})
    trials = [done(0.9, width=0.5 + i / 100) for i in range(3)]
    trials += [done(0.1, width=i / 10) for i in (0, 1, 2, 8, 9, 10)]
    new, _ = refine(s, trials, RefinePolicy(top_k=3))
    p = new.params["width"]
    assert p.low > 0.0 and p.high < 1.0 and p.limits == ()


def test_limits_are_validated_and_only_stored_when_given() -> None:
    with pytest.raises(ValidationError, match="at most once"):
        space(x={"type": "uniform", "low": 0, "high": 1, "limits": ["low", "low"]})
    with pytest.raises(ValidationError):
        space(x={"type": "uniform", "low": 0, "high": 1, "limits": ["left"]})
    with pytest.raises(ValidationError):
        space(x={"type": "choice", "values": [1, 2], "limits": ["low"]})
    plain = SearchSpace.model_validate({"x": {"type": "int", "low": 1, "high": 9}})
    assert plain.model_dump(mode="json") == {"x": {"type": "int", "low": 1, "high": 9,
                                                   "log": False}}


def test_a_pruned_long_run_ranks_above_a_completed_short_remainder() -> None:
    remainder = TrialOutcome({}, "completed", 0.95, 3, allowed=3)
    long_pruned = TrialOutcome({}, "pruned", 0.80, 20)
    full = TrialOutcome({}, "completed", 0.70, 50, allowed=50)
    short_pruned = TrialOutcome({}, "pruned", 0.99, 2)
    order = ranked([remainder, long_pruned, full, short_pruned], maximize=True)
    assert order == [full, long_pruned, remainder, short_pruned]


def test_a_completed_trial_counts_its_allowance_even_when_it_reported_less() -> None:
    once = TrialOutcome({}, "completed", 0.9, 1, allowed=10)
    pruned = TrialOutcome({}, "pruned", 0.95, 5)
    assert ranked([pruned, once], maximize=True) == [once, pruned]
