"""Edge-of-range and divergence warnings."""

import pytest

from app.search.edges import cluster_warnings, divergence_warnings, edge_warnings, fmt
from app.search.space import IntParam, LogUniform, Uniform
from app.search.trials import stalled_reason
from tests.search.helpers import diverged, done, pruned, space, stalled

LR = space(learning_rate={"type": "log_uniform", "low": 1e-6, "high": 1e-3})


def test_most_top_trials_at_the_lower_edge_warn_even_if_the_best_does_not() -> None:
    # In log space the lower tenth of [1e-6, 1e-3] ends at 10**-5.7 = 2e-6.
    values = [5e-5, 1.1e-6, 1.5e-6, 1.9e-6, 3e-4, 1e-4]
    trials = [done(1.0 - i / 10, learning_rate=v) for i, v in enumerate(values)]
    (w,) = edge_warnings(LR, trials, maximize=True, top_k=4)
    assert (w.kind, w.param, w.side) == ("edge", "learning_rate", "lower")
    assert w.values == [1.1e-6, 1.5e-6, 1.9e-6]
    assert w.message == (
        "3 of the top 4 learning_rate values sit at the lower edge of [1e-6, 1e-3]; "
        "widen the range downwards"
    )
    # Half of the top is not "most": no warning.
    assert edge_warnings(LR, trials, maximize=True, top_k=6) == []


def test_edge_is_measured_in_scale_space() -> None:
    # 5e-5 sits in the lowest 5% of [1e-6, 1e-3] linearly, but mid-range (0.57) in log10.
    assert edge_warnings(LR, [done(1.0, learning_rate=5e-5)], maximize=True) == []
    assert len(edge_warnings(LR, [done(1.0, learning_rate=9e-4)], maximize=True)) == 1


def test_wider_edge_fraction_catches_more() -> None:
    trials = [done(1.0, learning_rate=5e-4), done(0.0, learning_rate=1e-5)]
    assert edge_warnings(LR, trials, maximize=True, edge_fraction=0.1) == []
    (w,) = edge_warnings(LR, trials, maximize=True, edge_fraction=0.25)
    assert w.side == "upper" and w.values == [5e-4]


def test_every_trial_beyond_a_learning_rate_diverged() -> None:
    s = space(
        learning_rate={"type": "log_uniform", "low": 1e-5, "high": 1.0},
        hidden={"type": "int", "low": 16, "high": 512, "log": True},
    )
    trials = [
        done(0.7, learning_rate=1e-3, hidden=16),
        done(0.8, learning_rate=3e-2, hidden=512),
        pruned(0.2, 3, learning_rate=1e-4, hidden=64),
        *[diverged(learning_rate=v, hidden=h) for v, h in
          zip([0.04, 0.06, 0.1, 0.2, 0.35, 0.5, 0.9], [20, 30, 100, 200, 300, 400, 500],
              strict=True)],
    ]
    (w,) = divergence_warnings(s, trials)
    assert (w.kind, w.param, w.side) == ("divergence", "learning_rate", "upper")
    assert w.message == "every trial with learning_rate > 3e-2 diverged (7 of 7)"
    assert w.values[0] == 0.04


@pytest.mark.parametrize(
    "extra",
    [
        [done(0.5, learning_rate=0.95)],  # a trial beyond the boundary trained: not clean
        [],  # fine, but drop two diverged trials below
    ],
)
def test_no_divergence_warning_without_a_clean_separation(extra: list) -> None:
    s = space(learning_rate={"type": "log_uniform", "low": 1e-5, "high": 1.0})
    trials = [done(0.7, learning_rate=1e-3), *extra]
    if extra:
        trials += [diverged(learning_rate=v) for v in (0.1, 0.2, 0.5)]
    else:
        trials += [diverged(learning_rate=v) for v in (0.1, 0.2)]
    assert divergence_warnings(s, trials) == []


def test_divergence_below_a_boundary() -> None:
    s = space(batch={"type": "int", "low": 1, "high": 256, "log": True})
    trials = [done(0.6, batch=32), done(0.5, batch=128)] + [
        diverged(batch=b) for b in (1, 2, 4, 8)
    ]
    (w,) = divergence_warnings(s, trials)
    assert w.side == "lower" and w.message == "every trial with batch < 32 diverged (4 of 4)"


def test_trials_that_stalled_at_chance_are_not_called_diverged() -> None:
    s = space(learning_rate={"type": "log_uniform", "low": 1e-8, "high": 1.0})
    trials = [done(0.7, learning_rate=1e-3), done(0.6, learning_rate=1e-2),
              *[stalled(learning_rate=v) for v in (1e-8, 1e-7, 1e-6)],
              *[diverged(learning_rate=v) for v in (0.2, 0.5, 0.9)]]
    lower, upper = sorted(divergence_warnings(s, trials), key=lambda w: w.side)
    assert (lower.kind, lower.side) == ("stall", "lower")
    assert lower.message == "every trial with learning_rate < 1e-3 stalled at chance (3 of 3)"
    assert (upper.kind, upper.message) == (
        "divergence", "every trial with learning_rate > 1e-2 diverged (3 of 3)")
    mixed = [done(0.7, learning_rate=1e-3), stalled(learning_rate=0.2),
             *[diverged(learning_rate=v) for v in (0.5, 0.9)]]
    (w,) = divergence_warnings(s, mixed)
    assert w.message == ("every trial with learning_rate > 1e-3 was aborted: 2 diverged, "
                         "1 stalled at chance (3 of 3)")
    (c,) = cluster_warnings(s, [stalled(learning_rate=v) for v in (1e-8, 1e-7, 2e-7, 1e-6)])
    assert c.kind == "stall" and c.message.startswith("all 4 trials that stalled at chance")


def test_a_stall_is_told_by_the_reason_the_trainer_gives() -> None:
    assert stalled_reason("stalled: loss 2.30 vs initial 2.30 after 3 epochs, val accuracy 10%")
    assert not stalled_reason("loss 7.1 > 3 x initial 2.30 at epoch 1, step 4")
    assert not stalled_reason(None)


@pytest.mark.parametrize(
    ("param", "value", "text"),
    [
        (LogUniform(low=1e-6, high=1e-3), 8.7e-4, "8.7e-4"),
        (LogUniform(low=1e-6, high=1.0), 1e-6, "1e-6"),
        (LogUniform(low=1e-6, high=1.0), 0.25, "0.25"),
        (IntParam(low=16, high=512, log=True), 512, "512"),
        (Uniform(low=0.0, high=1.0), 0.125, "0.125"),
    ],
)
def test_values_are_printed_short(param, value: float, text: str) -> None:
    assert fmt(param, value) == text
