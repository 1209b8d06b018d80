"""Softmax cross-entropy and L2 regularization."""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def softmax_loss(scores: Array, y: Array, out: Array | None = None) -> tuple[float, Array]:
    """Mean cross-entropy of softmax(scores) against integer labels y; return (loss, dscores).

    Numerically stable (scores are shifted by their row maximum). ``out`` may alias
    ``scores``, which then holds the gradient afterwards.
    """
    n = scores.shape[0]
    rows = np.arange(n)
    shifted = np.subtract(scores, scores.max(axis=1, keepdims=True), out=out)
    correct = shifted[rows, y].sum()
    np.exp(shifted, out=shifted)
    sums = shifted.sum(axis=1, keepdims=True)
    loss = (float(np.log(sums).sum()) - float(correct)) / n
    sums *= n
    shifted /= sums
    shifted[rows, y] -= 1.0 / n
    return loss, shifted


def softmax_data_loss(scores: Array, y: Array) -> float:
    """Summed (not averaged) cross-entropy, without the gradient; used for evaluation."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    correct = shifted[np.arange(scores.shape[0]), y].sum(dtype=np.float64)
    log_sums = np.log(np.exp(shifted).sum(axis=1))
    return float(log_sums.sum(dtype=np.float64) - correct)


def l2_penalty(weights: Array, reg: float) -> float:
    """``0.5 * reg * sum(W**2)`` over a (flat) array of weights."""
    flat = weights.reshape(-1)
    return 0.5 * reg * float(np.dot(flat, flat))


def l2_grad(weights: Array, reg: float, grad: Array, scratch: Array | None = None) -> Array:
    """Add the penalty's gradient ``reg * W`` to ``grad`` in place (``scratch``: a temp buffer)."""
    grad += np.multiply(weights, reg, out=scratch)
    return grad
