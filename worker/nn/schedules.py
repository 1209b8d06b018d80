"""Learning-rate decay per epoch (epochs numbered from 0 here)."""

from __future__ import annotations

import math


def learning_rate_at(
    base: float, kind: str, epoch: int, *, epochs: int, rate: float = 0.95, step_epochs: int = 10
) -> float:
    """Learning rate for ``epoch`` (0-based) of ``epochs``.

    none: ``base``; step: ``base * rate ** (epoch // step_epochs)``;
    exponential: ``base * rate ** epoch``; cosine: ``base * (1 + cos(pi * epoch / epochs)) / 2``.
    """
    if kind == "none":
        return base
    if kind == "step":
        return base * rate ** (epoch // step_epochs)
    if kind == "exponential":
        return base * rate**epoch
    if kind == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    raise ValueError(f"unknown lr_decay {kind!r}; allowed: none, step, exponential, cosine")
