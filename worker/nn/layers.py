"""Affine and (inverted) dropout layers, CS231n style: ``*_forward -> (out, cache)``.

Every function works in the dtype of its input (float32 in training, float64 for
gradient checks) and accepts optional preallocated output buffers (``out=``).
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray
AffineCache = tuple[Array, Array, bool]


def affine_forward(
    x: Array, w: Array, b: Array | None, out: Array | None = None
) -> tuple[Array, AffineCache]:
    """``out = x @ w + b`` for x of shape (N, D), w (D, M), b (M,) or None (no bias)."""
    out = np.dot(x, w, out=out)
    if b is not None:
        out += b
    return out, (x, w, b is not None)


def affine_backward(
    dout: Array,
    cache: AffineCache,
    *,
    need_dx: bool = True,
    dx: Array | None = None,
    dw: Array | None = None,
    db: Array | None = None,
) -> tuple[Array | None, Array, Array | None]:
    """Return (dx, dw, db); dx is None when ``need_dx`` is false, db None without a bias."""
    x, w, has_bias = cache
    dw = np.dot(x.T, dout, out=dw)
    db = np.sum(dout, axis=0, out=db) if has_bias else None
    return (np.dot(dout, w.T, out=dx) if need_dx else None), dw, db


def dropout_mask(
    shape: tuple[int, ...],
    p: float,
    rng: np.random.Generator,
    dtype: type = np.float32,
    out: Array | None = None,
) -> Array:
    """Inverted-dropout mask: 0 with probability ``p``, else ``1 / (1 - p)``."""
    out = rng.random(shape, dtype=dtype, out=out)
    np.greater_equal(out, p, out=out)
    out *= 1.0 / (1.0 - p)
    return out


def dropout_forward(
    x: Array,
    p: float,
    *,
    rng: np.random.Generator | None = None,
    mask: Array | None = None,
    out: Array | None = None,
) -> tuple[Array, Array]:
    """Inverted dropout with drop probability ``p``; a given ``mask`` is reused as is."""
    if mask is None:
        if rng is None:
            raise ValueError("dropout_forward needs rng or mask")
        mask = dropout_mask(x.shape, p, rng, x.dtype.type)
    return np.multiply(x, mask, out=out), mask


def dropout_backward(dout: Array, mask: Array, out: Array | None = None) -> Array:
    """Gradient of inverted dropout: the upstream gradient times the same mask."""
    return np.multiply(dout, mask, out=out)
