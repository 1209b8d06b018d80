"""Weight initialization from an explicit ``np.random.Generator`` (a seed reproduces it)."""

from __future__ import annotations

import math

import numpy as np


def init_std(kind: str, fan_in: int, std: float = 0.01) -> float:
    """Standard deviation promised by each scheme.

    small: ``std``; xavier: ``1 / sqrt(fan_in)``; he: ``1 / sqrt(fan_in / 2)``.
    """
    if kind == "small":
        return std
    if kind == "xavier":
        return 1.0 / math.sqrt(fan_in)
    if kind == "he":
        return 1.0 / math.sqrt(fan_in / 2)
    raise ValueError(f"unknown init {kind!r}; allowed: small, xavier, he")


def init_weights(
    kind: str,
    fan_in: int,
    fan_out: int,
    rng: np.random.Generator,
    *,
    std: float = 0.01,
    dtype: type = np.float32,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Gaussian (fan_in, fan_out) weights with the scheme's std, written into ``out`` if given."""
    scale = init_std(kind, fan_in, std)
    if out is None:
        out = np.empty((fan_in, fan_out), dtype=dtype)
    rng.standard_normal(out=out, dtype=out.dtype.type)
    out *= scale
    return out
