"""Coarse-to-fine refinement on hand-made stages."""

import json
import math
import random

import pytest
from pydantic import ValidationError

from app.search.pruning import PruningPolicy
from app.search.refine import RefinePolicy, default_plan, refine
from app.search.samplers import SAMPLERS
from app.search.space import Choice, Fixed, IntParam, LogUniform, Uniform
from app.search.trials import TrialOutcome
from tests.search.helpers import diverged, done, failed, pruned, space

SPAN = RefinePolicy(method="span", top_k=3, margin=0.25, min_width=0.1)
LR = {"type": "log_uniform", "low": 1e-6, "high": 1.0}


def log_bounds(p: LogUniform) -> tuple[float, float]:
    return math.log10(p.low), math.log10(p.high)


def test_log_winners_narrow_around_their_span_in_log_space() -> None:
    trials = [
        done(0.90, learning_rate=1e-4),
        done(0.92, learning_rate=3e-4),
        done(0.91, learning_rate=1e-3),
        done(0.50, learning_rate=1e-6 * 2),
        done(0.60, learning_rate=1e-5),
        done(0.70, learning_rate=1e-2),
        diverged(learning_rate=0.5),
    ]
    new, _ = refine(space(learning_rate=LR), trials, SPAN)
    lr = new.params["learning_rate"]
    assert isinstance(lr, LogUniform)
    # Span [-4, -3] in log10, widened by a quarter of its width on each side.
    assert log_bounds(lr) == pytest.approx((-4.25, -2.75))


def test_quantile_box_ignores_an_outlying_winner() -> None:
    exponents = [-4.0, -3.6, -3.5, -3.4, -3.0, -1.0]
    trials = [done(0.9 - i / 100, learning_rate=10**e) for i, e in enumerate(exponents)]
    trials += [done(0.1, learning_rate=10**e) for e in (-6.0, -5.0, -0.5)]
    s = space(learning_rate=LR)
    quantile = RefinePolicy(method="quantile", top_k=6, trim=0.2, margin=0.0)
    span = quantile.model_copy(update={"method": "span"})
    # Quantiles 0.2 and 0.8 of six sorted winners are the 2nd and 5th exactly.
    assert log_bounds(refine(s, trials, quantile)[0].params["learning_rate"]) == pytest.approx(
        (-3.6, -3.0)
    )
    assert log_bounds(refine(s, trials, span)[0].params["learning_rate"]) == pytest.approx(
        (-4.0, -1.0)
    )
    assert RefinePolicy().method == "quantile"


def test_minimize_takes_the_lowest_objectives() -> None:
    trials = [done(0.1, x=0.2), done(0.2, x=0.4), done(5.0, x=0.8), done(6.0, x=0.95)]
    s = space(x={"type": "uniform", "low": 0.0, "high": 1.0})
    policy = RefinePolicy(method="span", top_k=2, margin=0.0)
    low_new, _ = refine(s, trials, policy, maximize=False)
    high_new, _ = refine(s, trials, policy, maximize=True)
    assert (low_new.params["x"].low, low_new.params["x"].high) == pytest.approx((0.2, 0.4))
    assert (high_new.params["x"].low, high_new.params["x"].high) == pytest.approx((0.8, 0.95))


def test_winners_at_the_upper_edge_warn_and_expand_beyond_the_old_bound() -> None:
    s = space(learning_rate={"type": "log_uniform", "low": 1e-6, "high": 1e-3})
    trials = [
        done(0.95, learning_rate=8.7e-4),
        done(0.90, learning_rate=5e-4),
        done(0.80, learning_rate=1e-4),
        done(0.50, learning_rate=1e-5),
        done(0.40, learning_rate=2e-6),
    ]
    narrowed, warnings = refine(s, trials, SPAN)
    (edge,) = warnings
    assert edge.kind == "edge" and (edge.param, edge.side) == ("learning_rate", "upper")
    assert edge.message == (
        "best learning_rate 8.7e-4 sits at the upper edge of [1e-6, 1e-3]; "
        "widen the range upwards"
    )
    assert narrowed.params["learning_rate"].high == 1e-3

    expanded, _ = refine(s, trials, SPAN.model_copy(update={"on_edge": "expand"}))
    lr = expanded.params["learning_rate"]
    # Upper side moves out by half the width (3 decades) in log space: 10**-1.5.
    assert lr.high == pytest.approx(10**-1.5)
    assert lr.low == narrowed.params["learning_rate"].low > 1e-6


def test_expanding_a_log_range_downwards_stays_positive() -> None:
    s = space(reg={"type": "log_uniform", "low": 1e-8, "high": 1e-2})
    trials = [done(1.0 - i / 10, reg=v) for i, v in enumerate([1.2e-8, 2e-8, 1e-7, 1e-3])]
    new, warnings = refine(s, trials, RefinePolicy(top_k=3, on_edge="expand"))
    assert [(w.kind, w.side) for w in warnings] == [("edge", "lower")]
    assert 0 < new.params["reg"].low == pytest.approx(1e-11)


def test_one_winner_does_not_collapse_the_range() -> None:
    s = space(
        learning_rate=LR,
        momentum={"type": "uniform", "low": 0.5, "high": 0.99},
    )
    trials = [
        done(0.9, learning_rate=1e-3, momentum=0.9),
        done(0.2, learning_rate=1e-5, momentum=0.6),
    ]
    new, _ = refine(s, trials, RefinePolicy(top_k=1, min_width=0.1))
    lo, hi = log_bounds(new.params["learning_rate"])
    assert hi - lo == pytest.approx(0.6)  # a tenth of 6 decades, centred on the winner
    assert (lo + hi) / 2 == pytest.approx(-3)
    m = new.params["momentum"]
    assert m.high - m.low == pytest.approx(0.049)
    assert m.low < 0.9 < m.high


def test_min_width_window_is_shifted_inside_the_range_not_cut() -> None:
    s = space(x={"type": "uniform", "low": 0.0, "high": 10.0})
    new, _ = refine(s, [done(1.0, x=10.0), done(0.0, x=2.0)], RefinePolicy(top_k=1))
    assert (new.params["x"].low, new.params["x"].high) == pytest.approx((9.0, 10.0))


def test_int_ranges_stay_valid_ints() -> None:
    s = space(
        hidden={"type": "int", "low": 16, "high": 512, "log": True},
        layers={"type": "int", "low": 1, "high": 4},
        width={"type": "int", "low": 1, "high": 8, "log": True},
    )
    trials = [done(0.9, hidden=512, layers=4, width=1), done(0.1, hidden=16, layers=1, width=8)]
    new, _ = refine(s, trials, RefinePolicy(top_k=1, on_edge="expand"))
    hidden, layers, width = (new.params[n] for n in ("hidden", "layers", "width"))
    assert isinstance(hidden, IntParam) and hidden.log
    # Each winner sat at an edge: that side moves out by half the width in scale space
    # (log10(32) / 2 decades for hidden), the other side narrows to the winner.
    assert (hidden.low, hidden.high) == (512, math.ceil(512 * 32**0.5))
    assert (layers.low, layers.high) == (4, 6)
    assert (width.low, width.high) == (1, 2)  # never below 1 on a log scale, never a point


def test_random_stages_always_give_valid_ranges_inside_the_old_ones() -> None:
    rng = random.Random(0)
    for _ in range(200):
        lo = rng.randint(1, 50)
        s = space(
            k={"type": "int", "low": lo, "high": lo + rng.randint(1, 5), "log": rng.random() < 0.5},
            x={"type": "uniform", "low": -1.0, "high": 1.0},
            y={"type": "log_uniform", "low": 1e-3, "high": 1e3},
        )
        p = s.params
        trials = [
            done(rng.random(), k=rng.randint(p["k"].low, p["k"].high),
                 x=rng.uniform(-1, 1), y=10 ** rng.uniform(-3, 3))
            for _ in range(rng.randint(1, 12))
        ]
        policy = RefinePolicy(top_k=rng.choice([0.2, 0.5, 1, 3]), margin=rng.random())
        new, _ = refine(s, trials, policy)
        for name, q in new.params.items():
            assert q.low < q.high
            assert p[name].low <= q.low and q.high <= p[name].high
        assert isinstance(new.params["k"].low, int) and isinstance(new.params["k"].high, int)


def test_choices_keep_winners_and_undecided_values() -> None:
    s = space(
        act={"type": "choice", "values": ["relu", "tanh", "sigmoid", "elu"]},
        batch={"type": "fixed", "value": 100},
    )
    trials = [
        done(0.9, act="relu", batch=100),
        done(0.8, act="sigmoid", batch=100),
        *[done(0.1 + i / 100, act="tanh", batch=100) for i in range(3)],
        done(0.3, act="sigmoid", batch=100),
        diverged(act="sigmoid", batch=100),
        done(0.2, act="elu", batch=100),
        *[failed(act="elu", batch=100) for _ in range(3)],
    ]
    new, _ = refine(s, trials, RefinePolicy(top_k=2, min_choice_trials=3))
    # tanh lost 3 times: dropped. elu ran once (failures do not count): undecided, kept.
    assert new.params["act"] == Choice(values=["relu", "sigmoid", "elu"])
    assert new.params["batch"] == Fixed(value=100)


def test_pruned_trials_fill_the_top_after_completed_ones() -> None:
    s = space(x={"type": "uniform", "low": 0.0, "high": 1.0})
    trials = [
        done(0.50, x=0.40),
        pruned(0.99, 3, x=0.95),  # high value at epoch 3, but pruned early
        pruned(0.60, 9, x=0.50),
        pruned(0.70, 2, x=0.05),
    ]
    new, _ = refine(s, trials, RefinePolicy(method="span", top_k=2, margin=0.0))
    assert (new.params["x"].low, new.params["x"].high) == pytest.approx((0.40, 0.50))


def test_all_diverged_stage_warns_and_does_not_narrow() -> None:
    s = space(
        learning_rate=LR,
        hidden={"type": "int", "low": 16, "high": 512, "log": True},
    )
    trials = [
        diverged(learning_rate=lr, hidden=h)
        for lr, h in [(0.9, 16), (0.3, 512), (0.05, 40), (0.02, 200), (0.5, 90)]
    ] + [failed(learning_rate=1e-5, hidden=64)]
    new, warnings = refine(s, trials, RefinePolicy())
    assert new == s
    assert [(w.kind, w.param, w.side) for w in warnings] == [
        ("no_completed", None, None),
        ("divergence", "learning_rate", "upper"),
    ]
    assert warnings[0].message == (
        "no trial completed (5 aborted, 1 failed); the space is left unchanged"
    )
    assert warnings[1].message == (
        "all 5 diverged trials have learning_rate in the upper third of [1e-6, 1] "
        "(2e-2 to 0.9); try lower values"
    )


def test_refine_cuts_a_range_where_everything_diverged() -> None:
    s = space(learning_rate=LR)
    trials = [
        done(0.9, learning_rate=1e-2),
        done(0.8, learning_rate=2e-2),
        done(0.1, learning_rate=1e-6 * 3),
        *[diverged(learning_rate=v) for v in (5e-2, 0.1, 0.4)],
    ]
    new, warnings = refine(s, trials, RefinePolicy(top_k=2, margin=2.0))
    assert [w.kind for w in warnings] == ["divergence"]
    # The margin would reach 10**-0.8; nothing at or above 5e-2 trained, so stop there.
    assert new.params["learning_rate"].high == pytest.approx(5e-2)


def test_default_plan_spends_the_budget_in_stages() -> None:
    *search, confirm = default_plan(2000, max_epochs=50)
    # 12% of 2000 buys four 50-epoch runs: four candidates once each, 200 epochs.
    assert confirm == {"epochs": 50, "confirm": {"top": 4, "repeats": 1}}
    assert [s["budget"] for s in search] == [540, 540, 720]
    assert [s["refine"] is None for s in search] == [False, False, True]
    for stage in search:
        assert stage["epochs"] == 50 and stage["sampler"] in SAMPLERS
        PruningPolicy.model_validate(stage["pruning"])
        if stage["refine"] is not None:
            RefinePolicy.model_validate(stage["refine"])
    *search, confirm = default_plan(1001, max_epochs=20)
    cost = confirm["confirm"]["top"] * confirm["confirm"]["repeats"] * 20
    assert sum(s["budget"] for s in search) + cost <= 1001
    assert sum(s["budget"] for s in search) == 1001 - cost
    (single,) = default_plan(400, max_epochs=50)  # 8 full trials: too few to split or confirm
    assert single["budget"] == 400 and single["refine"] is None


def test_default_plan_without_confirmation_searches_the_whole_budget() -> None:
    plan = default_plan(2000, max_epochs=50, confirm=False)
    assert [s["budget"] for s in plan] == [600, 600, 800]
    assert not any("confirm" in s for s in plan)


def test_policy_is_strict_and_documented() -> None:
    with pytest.raises(ValidationError):
        RefinePolicy(top_k=2.5)
    with pytest.raises(ValidationError):
        RefinePolicy(topk=3)  # type: ignore[call-arg]  # a misspelt field on purpose
    with pytest.raises(ValidationError):
        RefinePolicy(on_edge="grow")  # type: ignore[arg-type]  # a bad value on purpose
    props = RefinePolicy.model_json_schema()["properties"]
    assert all(p.get("description") for p in props.values())


def test_unknown_trial_state_is_refused_and_warnings_serialise() -> None:
    with pytest.raises(ValueError, match="unknown trial state"):
        TrialOutcome({}, "done", 1.0)
    s = space(x={"type": "uniform", "low": 0.0, "high": 1.0})
    _, warnings = refine(s, [done(1.0, x=0.99), done(0.0, x=0.5)], RefinePolicy(top_k=1))
    assert json.loads(json.dumps([w.to_dict() for w in warnings]))[0]["range"] == [0.0, 1.0]
    assert isinstance(s.params["x"], Uniform)
