"""Numerical gradients by centred differences, to prove the hand-written backward passes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Array = np.ndarray


def rel_error(a: Array, b: Array) -> float:
    """Largest elementwise ``|a - b| / max(1e-8, |a| + |b|)`` (CS231n's relative error)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f: Callable[[], float], x: Array, h: float = 1e-5) -> Array:
    """Gradient of the scalar ``f()`` with respect to every entry of ``x`` (perturbed in place)."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        gflat[i] = _centred_difference(f, flat, i, h)
    return grad


def _centred_difference(f: Callable[[], float], flat: Array, i: int, h: float) -> float:
    """``(f(x + h e_i) - f(x - h e_i)) / 2h``, restoring ``flat[i]`` afterwards."""
    old = flat[i]
    flat[i] = old + h
    plus = f()
    flat[i] = old - h
    minus = f()
    flat[i] = old
    return (plus - minus) / (2 * h)


def numerical_gradient_array(
    f: Callable[[], Array], x: Array, dout: Array, h: float = 1e-5
) -> Array:
    """Gradient of ``sum(f() * dout)`` with respect to ``x``, for array-valued ``f``."""
    return numerical_gradient(lambda: float(np.sum(f() * dout)), x, h)


def sparse_check(
    f: Callable[[], float],
    x: Array,
    analytic: Array,
    rng: np.random.Generator,
    num_checks: int = 10,
    h: float = 1e-5,
) -> float:
    """Relative error of ``analytic`` at ``num_checks`` random entries of ``x`` (big tensors)."""
    flat, aflat = x.reshape(-1), np.asarray(analytic).reshape(-1)
    worst = 0.0
    for i in rng.choice(flat.size, size=min(num_checks, flat.size), replace=False):
        numeric = _centred_difference(f, flat, i, h)
        worst = max(worst, rel_error(np.array([numeric]), aflat[i : i + 1]))
    return worst
