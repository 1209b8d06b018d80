"""The confirmation step's pure rules: how much a budget plan spends, which trials are
candidates, and which candidate is the pick."""

from __future__ import annotations

import pytest

from app.search.confirm import (
    CONFIRM_SHARE,
    Confirmed,
    ConfirmPolicy,
    budget_confirmation,
    candidates,
    confirmation_cost,
    confirmed,
    pick,
    pick_reason,
)
from app.search.trials import TrialOutcome


def done(value: float, x: float, epochs: int = 20, allowed: int = 20) -> TrialOutcome:
    return TrialOutcome({"x": x}, "completed", value, epochs, allowed=allowed)


@pytest.mark.parametrize(
    ("budget", "max_epochs", "expected"),
    [
        (400, 50, None),  # 48 epochs buy no full run
        (1000, 50, (2, 1)),
        (2000, 50, (4, 1)),
        (5000, 50, (5, 2)),  # 12 runs: 5 candidates, then a second run each
        (100_000, 50, (5, 3)),  # repeats stop at 3
    ],
)
def test_budget_confirmation_spends_a_share_on_top_and_repeats(budget, max_epochs, expected):
    got = budget_confirmation(budget, max_epochs)
    if expected is None:
        assert got is None
        return
    assert got is not None and (got.top, got.repeats) == expected
    assert confirmation_cost(got, max_epochs) <= CONFIRM_SHARE * budget


def test_candidates_rank_at_comparable_fidelity_and_skip_repeated_params():
    trials = [
        (1, done(0.95, 0.1, epochs=3, allowed=3)),  # a 3-epoch remainder: ranked last
        (2, done(0.90, 0.2)),
        (3, TrialOutcome({"x": 0.3}, "pruned", 0.93, 10)),
        (4, done(0.91, 0.4)),
        (5, done(0.90, 0.4)),  # same params as trial 4
        (6, TrialOutcome({"x": 0.5}, "failed", None)),
    ]
    assert candidates(trials, 3, maximize=True) == [4, 2, 3]
    assert candidates(trials, 10, maximize=True) == [4, 2, 3, 1]
    assert candidates([], 3, maximize=True) == []


def test_the_pick_is_the_best_mean_not_the_luckiest_run():
    lucky, steady = done(0.99, 0.1), done(0.95, 0.2)
    repeat = lambda v: done(v, 0.0)  # noqa: E731
    summaries = confirmed(
        {1: [lucky, repeat(0.90), repeat(0.91)], 2: [steady, repeat(0.96), repeat(0.95)]},
        epochs=20,
    )
    chosen = pick(summaries, maximize=True)
    assert chosen is not None and chosen.candidate == 2
    assert chosen.runs == 3 and chosen.mean == pytest.approx(0.9533333)
    assert pick_reason(chosen) == "best mean of 3 runs"
    minimizing = pick(summaries, maximize=False)
    assert minimizing is not None and minimizing.candidate == 1


def test_a_short_original_does_not_count_and_failed_runs_are_left_out():
    short = done(0.99, 0.1, epochs=5, allowed=5)  # trained 5 of the confirmation's 20
    failed = TrialOutcome({"x": 0.1}, "failed", None)
    aborted = TrialOutcome({"x": 0.1}, "aborted", 0.1, 2)
    (c,) = confirmed({7: [short, done(0.8, 0.1), failed, aborted, None]}, epochs=20)
    assert c == Confirmed(7, [0.8], unfinished=2, pending=1)
    assert c.std is None and c.mean == 0.8
    assert pick_reason(c) == "best mean of 1 run (2 more runs did not finish and are left out)"


def test_no_finished_run_no_pick():
    (c,) = confirmed({3: [None, TrialOutcome({}, "failed", None)]}, epochs=5)
    assert c.mean is None and pick([c], maximize=True) is None


def test_confirm_policy_is_strict():
    with pytest.raises(ValueError):
        ConfirmPolicy(top=0, repeats=1)
    with pytest.raises(ValueError):
        ConfirmPolicy.model_validate({"top": 2, "repeats": 1, "seeds": 3})
