"""Batch normalization: batch statistics in training, running averages at test time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Array = np.ndarray
BatchNormCache = tuple[Array, Array, Array]


@dataclass
class BatchNormState:
    """Running mean/variance of one layer (not trained by gradient descent)."""

    running_mean: Array
    running_var: Array
    momentum: float = 0.9
    eps: float = 1e-5

    @classmethod
    def zeros(cls, size: int, dtype: type = np.float32, momentum: float = 0.9) -> BatchNormState:
        """Fresh state: mean 0 and variance 1, as in the CS231n assignments."""
        return cls(np.zeros(size, dtype), np.ones(size, dtype), momentum)


def batchnorm_forward(
    x: Array,
    gamma: Array,
    beta: Array,
    state: BatchNormState,
    *,
    train: bool,
    out: Array | None = None,
    xhat: Array | None = None,
) -> tuple[Array, BatchNormCache | None]:
    """Normalize each column of x (N, D), then scale by gamma and shift by beta.

    Training mode uses the batch mean and (biased) variance and updates the running averages
    ``running = momentum * running + (1 - momentum) * batch``; test mode uses the running
    averages and returns no cache. ``xhat`` is an optional buffer for the normalized input.
    """
    if not train:
        scale = gamma / np.sqrt(state.running_var + state.eps)
        out = np.multiply(x, scale, out=out)
        out += beta - state.running_mean * scale
        return out, None
    n = x.shape[0]
    mean = np.mean(x, axis=0)
    xhat = np.subtract(x, mean, out=xhat)
    var = np.einsum("ij,ij->j", xhat, xhat) / n
    inv_std = 1.0 / np.sqrt(var + state.eps)
    xhat *= inv_std
    out = np.multiply(xhat, gamma, out=out)
    out += beta
    m = state.momentum
    state.running_mean *= m
    state.running_mean += (1 - m) * mean
    state.running_var *= m
    state.running_var += (1 - m) * var
    return out, (xhat, gamma, inv_std)


def batchnorm_backward(
    dout: Array, cache: BatchNormCache, out: Array | None = None
) -> tuple[Array, Array, Array]:
    """Return (dx, dgamma, dbeta) with the simplified closed form; ``out`` may alias ``dout``."""
    xhat, gamma, inv_std = cache
    n = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.einsum("ij,ij->j", dout, xhat)
    correction = xhat * (dgamma / n)
    correction += dbeta / n
    dx = np.subtract(dout, correction, out=out)
    dx *= gamma * inv_std
    return dx, dgamma, dbeta
