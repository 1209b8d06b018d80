"""Nonlinearities with hand-written backward passes.

``*_forward(x, ...) -> (out, cache)`` and ``*_backward(dout, cache, out=None) -> dx``
(PReLU also returns the slope gradient). ``out=`` may alias ``dout`` for in-place updates
(not for Maxout, whose input is wider than its output).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Array = np.ndarray


def relu_forward(x: Array, out: Array | None = None) -> tuple[Array, Array]:
    """``max(0, x)``; the cache is the output (its sign is the mask)."""
    out = np.maximum(x, 0, out=out)
    return out, out


def relu_backward(dout: Array, cache: Array, out: Array | None = None) -> Array:
    """Pass the gradient where the unit was active (multiplied mask, no boolean indexing)."""
    return np.multiply(dout, cache > 0, out=out)


def leaky_relu_forward(
    x: Array, slope: float = 0.01, out: Array | None = None
) -> tuple[Array, tuple[Array, float]]:
    """``max(slope * x, x)`` for 0 <= slope < 1 (``out`` must not alias ``x``)."""
    out = np.multiply(x, slope, out=out)
    np.maximum(out, x, out=out)
    return out, (x, slope)


def leaky_relu_backward(dout: Array, cache: tuple[Array, float], out: Array | None = None) -> Array:
    """Gradient 1 where x > 0, ``slope`` elsewhere."""
    x, slope = cache
    return np.multiply(dout, np.where(x > 0, 1.0, slope).astype(x.dtype, copy=False), out=out)


def prelu_forward(
    x: Array, alpha: Array, out: Array | None = None
) -> tuple[Array, tuple[Array, Array, Array]]:
    """``max(0, x) + alpha * min(0, x)`` with one learned slope per unit (alpha of shape (M,));
    ``out`` must not alias ``x``."""
    neg = np.minimum(x, 0)
    out = np.maximum(x, 0, out=out)
    out += neg * alpha
    return out, (x, neg, alpha)


def prelu_backward(
    dout: Array, cache: tuple[Array, Array, Array], out: Array | None = None
) -> tuple[Array, Array]:
    """Return (dx, dalpha): gradient 1 where x > 0, ``alpha`` elsewhere (x = 0 included, as
    in :func:`leaky_relu_backward`)."""
    x, neg, alpha = cache
    dalpha = np.einsum("ij,ij->j", dout, neg)
    return np.multiply(dout, np.where(x > 0, 1, alpha).astype(x.dtype), out=out), dalpha


def elu_forward(
    x: Array, alpha: float = 1.0, out: Array | None = None
) -> tuple[Array, tuple[Array, Array, float]]:
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    neg = np.expm1(np.minimum(x, 0))
    neg *= alpha
    out = np.maximum(x, 0, out=out)
    out += neg
    return out, (x, neg, alpha)


def elu_backward(dout: Array, cache: tuple[Array, Array, float], out: Array | None = None) -> Array:
    """Gradient 1 for x > 0, ``alpha * exp(x)`` (= output + alpha) otherwise."""
    x, neg, alpha = cache
    return np.multiply(dout, np.where(x > 0, 1, neg + alpha).astype(x.dtype), out=out)


def tanh_forward(x: Array, out: Array | None = None) -> tuple[Array, Array]:
    """Hyperbolic tangent; the cache is the output."""
    out = np.tanh(x, out=out)
    return out, out


def tanh_backward(dout: Array, cache: Array, out: Array | None = None) -> Array:
    """``dout * (1 - tanh(x)**2)``."""
    return np.multiply(dout, 1 - np.square(cache), out=out)


def sigmoid_forward(x: Array, out: Array | None = None) -> tuple[Array, Array]:
    """Logistic sigmoid, computed as ``(1 + tanh(x / 2)) / 2`` (no overflow)."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out, out


def sigmoid_backward(dout: Array, cache: Array, out: Array | None = None) -> Array:
    """``dout * s * (1 - s)``."""
    return np.multiply(dout, cache * (1 - cache), out=out)


def maxout_forward(x: Array, k: int, out: Array | None = None) -> tuple[Array, tuple[Array, int]]:
    """Max over ``k`` pieces: x of shape (N, k*M) holds piece p of unit j in column p*M + j."""
    pieces = x.reshape(x.shape[0], k, -1)
    winner = np.argmax(pieces, axis=1)
    out = np.max(pieces, axis=1, out=out)
    return out, (winner, k)


def maxout_backward(dout: Array, cache: tuple[Array, int], out: Array | None = None) -> Array:
    """Route each unit's gradient to the piece that won the max."""
    winner, k = cache
    n, m = dout.shape
    dx = np.zeros((n, k, m), dtype=dout.dtype) if out is None else out.reshape(n, k, m)
    dx.fill(0)
    np.put_along_axis(dx, winner[:, None, :], dout[:, None, :], axis=1)
    return dx.reshape(n, k * m)


# name -> (forward(x, out), backward(dout, cache, out)) for the parameter-free activations
# whose extra setting (slope, alpha) is bound by the caller.
SIMPLE: dict[str, tuple[Callable[..., tuple[Array, Any]], Callable[..., Array]]] = {
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "elu": (elu_forward, elu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
}
