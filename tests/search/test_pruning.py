"""Pruning decisions on constructed learning curves."""

import math

import pytest
from pydantic import ValidationError

from app.search.pruning import PruningPolicy, asha_rungs, default_pruning, should_prune

MEDIAN = PruningPolicy(rule="median", warmup_epochs=2, min_trials=4)
ASHA = PruningPolicy(rule="asha", warmup_epochs=0, min_trials=2, reduction_factor=3, min_epochs=1)
OTHERS = {e: [0.5, 0.6, 0.7, 0.8] for e in range(1, 11)}  # median 0.65 at every epoch


def prune(policy: PruningPolicy, epoch: int, value: float, others=OTHERS, **kw) -> bool:
    kw = {"maximize": True, "max_epochs": 10} | kw
    return should_prune(policy, epoch=epoch, value=value, others=others, **kw)


def test_median_stops_trials_below_the_median_after_warm_up() -> None:
    assert prune(MEDIAN, 5, 0.60)
    assert not prune(MEDIAN, 5, 0.70)
    assert not prune(MEDIAN, 2, 0.10)  # warm-up
    assert not prune(MEDIAN, 10, 0.10)  # last epoch: nothing left to save
    assert not prune(MEDIAN, 5, 0.60, others={5: [0.7, 0.8, 0.9]})  # too few peers
    assert not prune(MEDIAN, 5, 0.60, others={4: OTHERS[4]})  # nobody reported epoch 5


def test_median_minimises_and_accepts_a_callable() -> None:
    losses = {5: [2.0, 1.0, 3.0, 4.0, math.nan]}  # NaN peers are ignored: median 2.5
    assert prune(MEDIAN, 5, 3.0, others=losses.__getitem__, maximize=False)
    assert not prune(MEDIAN, 5, 2.0, others=losses.__getitem__, maximize=False)
    assert prune(MEDIAN, 5, math.nan)


def test_asha_rungs_and_top_third() -> None:
    assert asha_rungs(ASHA, 27) == [1, 3, 9]
    assert asha_rungs(ASHA.model_copy(update={"min_epochs": 2}), 50) == [2, 6, 18]
    rung = {3: [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]}  # 9 with the trial: top 3 go on
    kw = {"others": rung, "max_epochs": 27}
    assert not prune(ASHA, 3, 0.75, **kw)  # 3rd of 9
    assert prune(ASHA, 3, 0.65, **kw)  # 4th of 9
    assert not prune(ASHA, 4, 0.0, others={4: rung[3]}, max_epochs=27)  # not a rung
    # Fewer than reduction_factor values at a rung: only a new best goes on.
    assert prune(ASHA, 3, 0.5, others={3: [0.6, 0.4]}, max_epochs=27)
    assert not prune(ASHA, 3, 0.7, others={3: [0.6, 0.4]}, max_epochs=27)


def curve(final: float, epoch: int) -> float:
    return final * (1 - math.exp(-epoch / 3))


@pytest.mark.parametrize("policy", [MEDIAN, ASHA])
def test_a_stage_of_curves_keeps_the_best_and_saves_epochs(policy: PruningPolicy) -> None:
    finals = [0.5, 0.9, 0.3, 0.7, 0.95, 0.2, 0.6, 0.4, 0.85, 0.1, 0.8, 0.35]
    max_epochs = 27
    seen: dict[int, list[float]] = {}
    ran = {}
    for final in finals:
        for epoch in range(1, max_epochs + 1):
            value = curve(final, epoch)
            stop = prune(policy, epoch, value, others=dict(seen), max_epochs=max_epochs)
            seen.setdefault(epoch, []).append(value)
            if stop:
                break
        ran[final] = epoch
    assert ran[0.95] == max_epochs  # the best curve is never stopped
    assert all(ran[f] < max_epochs for f in (0.1, 0.2, 0.35, 0.4))  # judged: not the first 4
    assert sum(ran.values()) < 0.7 * len(finals) * max_epochs


def test_default_pruning_and_strict_policy() -> None:
    assert default_pruning(1).rule == default_pruning(2).rule == "none"
    assert default_pruning(20) == PruningPolicy(rule="median", warmup_epochs=0, min_trials=4)
    with pytest.raises(ValidationError):
        PruningPolicy(rule="hyperband")  # type: ignore[arg-type]  # a bad value on purpose
    with pytest.raises(ValidationError):
        PruningPolicy(reduction_factor=1)
    props = PruningPolicy.model_json_schema()["properties"]
    assert all(p.get("description") for p in props.values())
