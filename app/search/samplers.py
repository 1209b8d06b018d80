"""Seeded samplers over the unit cube of a search space: random, Sobol and Latin hypercube."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from app.search.space import SearchSpace

SamplerName = Literal["random", "sobol", "lhs"]
SAMPLERS: tuple[str, ...] = ("random", "sobol", "lhs")


def unit_points(n: int, dims: int, *, seed: int, method: SamplerName = "random") -> np.ndarray:
    """``n`` points in ``[0, 1)^dims``, reproducible from ``seed``."""
    if n < 0 or dims < 0:
        raise ValueError("n and dims must be >= 0")
    if dims == 0 or n == 0:
        return np.zeros((n, dims))
    if method == "random":
        return np.random.default_rng(seed).random((n, dims))
    from scipy.stats import qmc  # imported here: it costs a second at every CLI start

    if method == "sobol":
        engine = qmc.Sobol(d=dims, scramble=True, rng=np.random.default_rng(seed))
        # Sobol balance holds for powers of two; draw the next one and keep the first n.
        m = max(int(np.ceil(np.log2(n))), 0)
        return engine.random_base2(m)[:n]
    if method == "lhs":
        return qmc.LatinHypercube(d=dims, rng=np.random.default_rng(seed)).random(n)
    raise ValueError(f"unknown sampler {method!r}; choose one of {', '.join(SAMPLERS)}")


def sample(
    space: SearchSpace, n: int, *, seed: int, method: SamplerName = "random", start: int = 0
) -> list[dict[str, Any]]:
    """Draw ``n`` parameter sets from ``space``, each value in the parameter's own scale,
    and return those from ``start`` on (a sequence grown in steps maps each point once)."""
    points = unit_points(n, len(space.sampled_names()), seed=seed, method=method)
    return [_plain(space.from_unit(list(p))) for p in points[start:]]


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """Turn numpy scalars into JSON-friendly Python values."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
