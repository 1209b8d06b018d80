"""Samplers: reproducible from the seed, in range, and quasi-random covers more evenly."""

import math

import numpy as np
import pytest
from scipy.stats import qmc

from app.search.samplers import sample, unit_points
from app.search.space import SearchSpace

SPACE = SearchSpace.model_validate(
    {
        "lr": {"type": "log_uniform", "low": 1e-6, "high": 1e-1},
        "hidden": {"type": "int", "low": 16, "high": 512, "log": True},
        "dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
        "act": {"type": "choice", "values": ["relu", "tanh", "elu"]},
        "batch": {"type": "fixed", "value": 100},
    }
)


@pytest.mark.parametrize("method", ["random", "sobol", "lhs"])
def test_same_seed_same_trials_other_seed_other_trials(method: str) -> None:
    a = sample(SPACE, 20, seed=7, method=method)
    assert a == sample(SPACE, 20, seed=7, method=method)
    assert a != sample(SPACE, 20, seed=8, method=method)
    for params in a:
        assert SPACE.check_params(params) == []
        assert params["batch"] == 100 and isinstance(params["hidden"], int)


def test_log_uniform_is_uniform_in_log10() -> None:
    lrs = np.array([p["lr"] for p in sample(SPACE, 4000, seed=0)])
    # Each decade of [1e-6, 1e-1] gets a fifth of the draws; linear sampling would put
    # nearly all of them in the top decade.
    counts = np.histogram(np.log10(lrs), bins=5, range=(-6, -1))[0]
    assert np.all(np.abs(counts / len(lrs) - 0.2) < 0.03)


def test_int_end_points_are_as_likely_as_the_rest() -> None:
    space = SearchSpace.model_validate({"k": {"type": "int", "low": 1, "high": 4}})
    ks = [p["k"] for p in sample(space, 4000, seed=0)]
    shares = np.bincount(ks, minlength=5)[1:] / len(ks)
    assert np.all(np.abs(shares - 0.25) < 0.03)


def test_quasi_random_covers_the_cube_more_evenly_than_random() -> None:
    def mean_discrepancy(method: str) -> float:
        return float(
            np.mean(
                [qmc.discrepancy(unit_points(64, 4, seed=s, method=method)) for s in range(10)]
            )
        )

    rand = mean_discrepancy("random")
    assert mean_discrepancy("sobol") < 0.5 * rand
    assert mean_discrepancy("lhs") < 0.8 * rand


def test_sobol_accepts_any_count_and_unknown_sampler_is_refused() -> None:
    points = unit_points(10, 3, seed=1, method="sobol")
    assert points.shape == (10, 3) and np.all((points >= 0) & (points < 1))
    with pytest.raises(ValueError, match="unknown sampler"):
        unit_points(4, 2, seed=0, method="grid")  # type: ignore[arg-type]  # a bad value on purpose
    assert math.isclose(unit_points(0, 3, seed=0).size, 0)
