"""First-order update rules, CS231n style: ``rule(w, dw, state) -> (next_w, state)``.

Contract (for speed): ``w`` is updated in place and returned; ``dw`` is used as scratch
space and holds garbage afterwards; ``state`` is a dict holding the hyperparameters
(``learning_rate``, ``momentum``, ``beta1``, ``beta2``, ``epsilon``) and the rule's
buffers, created on the first call.

Momentum and Nesterov keep the learning rate inside the velocity (CS231n's form); when the
rate changes (``lr_decay``) the velocity is rescaled to the new rate, so the updates equal
PyTorch's ``SGD(momentum=mu, nesterov=...)``, which applies the rate outside, at any schedule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Array = np.ndarray
State = dict[str, Any]
UpdateRule = Callable[[Array, Array, State], tuple[Array, State]]


def _buffer(state: State, key: str, like: Array) -> Array:
    buf = state.get(key)
    if buf is None:
        buf = state[key] = np.zeros_like(like)
    return buf


def sgd(w: Array, dw: Array, state: State) -> tuple[Array, State]:
    """Vanilla SGD: ``w -= learning_rate * dw``."""
    dw *= state["learning_rate"]
    w -= dw
    return w, state


def _velocity(state: State, like: Array) -> Array:
    """The velocity buffer, rescaled to the current learning rate if it changed."""
    v = _buffer(state, "velocity", like)
    lr, baked = state["learning_rate"], state.get("velocity_lr")
    if baked != lr:
        if baked:  # a velocity of lr x (sum of past gradients): keep the sum, swap the rate
            v *= lr / baked
        state["velocity_lr"] = lr
    return v


def sgd_momentum(w: Array, dw: Array, state: State) -> tuple[Array, State]:
    """Momentum: ``v = momentum * v - learning_rate * dw; w += v``."""
    v = _velocity(state, w)
    v *= state["momentum"]
    dw *= state["learning_rate"]
    v -= dw
    w += v
    return w, state


def nesterov(w: Array, dw: Array, state: State) -> tuple[Array, State]:
    """Nesterov momentum (CS231n form): ``v' = mu v - lr dw; w += -mu v + (1 + mu) v'``."""
    v = _velocity(state, w)
    mu = state["momentum"]
    v *= mu
    w -= v
    dw *= state["learning_rate"]
    v -= dw
    np.multiply(v, 1 + mu, out=dw)
    w += dw
    return w, state


def adam(w: Array, dw: Array, state: State) -> tuple[Array, State]:
    """Adam with bias correction: ``w -= lr * m_hat / (sqrt(v_hat) + epsilon)``."""
    m = _buffer(state, "m", w)
    v = _buffer(state, "v", w)
    tmp = _buffer(state, "scratch", w)
    b1, b2 = state["beta1"], state["beta2"]
    t = state["t"] = state.get("t", 0) + 1
    np.multiply(dw, dw, out=tmp)
    tmp *= 1 - b2
    v *= b2
    v += tmp
    dw *= 1 - b1
    m *= b1
    m += dw
    np.sqrt(v, out=tmp)
    tmp *= 1.0 / math.sqrt(1 - b2**t)
    tmp += state.get("epsilon", 1e-8)
    np.divide(m, tmp, out=tmp)
    tmp *= state["learning_rate"] / (1 - b1**t)
    w -= tmp
    return w, state


UPDATE_RULES: dict[str, UpdateRule] = {
    "sgd": sgd,
    "momentum": sgd_momentum,
    "nesterov": nesterov,
    "adam": adam,
}
