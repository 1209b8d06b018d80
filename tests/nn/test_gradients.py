"""Centred-difference gradient checks (float64) of every backward pass."""

from __future__ import annotations

import numpy as np
import pytest

from worker.nn import activations as act
from worker.nn.batchnorm import BatchNormState, batchnorm_backward, batchnorm_forward
from worker.nn.config import TrainConfig
from worker.nn.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from worker.nn.layers import affine_backward, affine_forward, dropout_backward, dropout_forward
from worker.nn.losses import l2_grad, l2_penalty, softmax_loss
from worker.nn.model import MLP

TOL = 1e-6


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Inputs at least 0.1 from the kink at 0, so finite differences never straddle it."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.sign(x) * 0.1 + x, x)


def test_rel_error_detects_a_wrong_gradient() -> None:
    a = np.array([1.0, 2.0, 3.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(a, a * 1.01) > 1e-3


def test_affine(rng: np.random.Generator) -> None:
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((4, 3))
    _, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(dout, cache)
    assert (
        rel_error(dx, numerical_gradient_array(lambda: affine_forward(x, w, b)[0], x, dout)) < TOL
    )
    assert (
        rel_error(dw, numerical_gradient_array(lambda: affine_forward(x, w, b)[0], w, dout)) < TOL
    )
    assert (
        rel_error(db, numerical_gradient_array(lambda: affine_forward(x, w, b)[0], b, dout)) < TOL
    )


def test_affine_without_bias_and_without_input_gradient(rng: np.random.Generator) -> None:
    x, w = rng.standard_normal((4, 5)), rng.standard_normal((5, 3))
    dout = rng.standard_normal((4, 3))
    out, cache = affine_forward(x, w, None)
    assert np.allclose(out, x @ w)
    dx, dw, db = affine_backward(dout, cache, need_dx=False)
    assert dx is None and db is None
    assert (
        rel_error(dw, numerical_gradient_array(lambda: affine_forward(x, w, None)[0], w, dout))
        < TOL
    )


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "tanh", "sigmoid"])
def test_simple_activations(name: str, rng: np.random.Generator) -> None:
    forward, backward = act.SIMPLE[name]
    kwargs = {"leaky_relu": {"slope": 0.1}, "elu": {"alpha": 1.3}}.get(name, {})
    x = away_from_zero(rng, (5, 6))
    dout = rng.standard_normal((5, 6))
    _, cache = forward(x, **kwargs)
    dx = backward(dout, cache)
    num = numerical_gradient_array(lambda: forward(x, **kwargs)[0], x, dout)
    assert rel_error(dx, num) < TOL


def test_activation_values() -> None:
    x = np.array([[-2.0, -0.5, 0.5, 2.0]])
    assert np.allclose(act.relu_forward(x)[0], [[0, 0, 0.5, 2]])
    assert np.allclose(act.leaky_relu_forward(x, 0.1)[0], [[-0.2, -0.05, 0.5, 2]])
    assert np.allclose(act.elu_forward(x, 2.0)[0], [[2 * np.expm1(-2), 2 * np.expm1(-0.5), 0.5, 2]])
    assert np.allclose(act.sigmoid_forward(x)[0], 1 / (1 + np.exp(-x)))
    assert np.allclose(act.tanh_forward(x)[0], np.tanh(x))
    big = np.array([[-1000.0, 1000.0]], dtype=np.float32)
    with np.errstate(all="raise"):
        assert np.array_equal(act.sigmoid_forward(big)[0], [[0.0, 1.0]])


def test_prelu(rng: np.random.Generator) -> None:
    x = away_from_zero(rng, (6, 4))
    alpha = rng.uniform(0.05, 0.5, 4)
    dout = rng.standard_normal((6, 4))
    out, cache = act.prelu_forward(x, alpha)
    assert np.allclose(out, np.where(x > 0, x, alpha * x))
    dx, dalpha = act.prelu_backward(dout, cache)
    assert (
        rel_error(dx, numerical_gradient_array(lambda: act.prelu_forward(x, alpha)[0], x, dout))
        < TOL
    )
    num_alpha = numerical_gradient_array(lambda: act.prelu_forward(x, alpha)[0], alpha, dout)
    assert rel_error(dalpha, num_alpha) < TOL


def test_prelu_and_leaky_relu_agree_at_zero() -> None:
    x = np.array([[-1.0, 0.0, 2.0]])
    dout = np.ones_like(x)
    alpha = np.full(3, 0.25)
    dx, _ = act.prelu_backward(dout, act.prelu_forward(x, alpha)[1])
    leaky = act.leaky_relu_backward(dout, act.leaky_relu_forward(x, 0.25)[1])
    assert dx.tolist() == leaky.tolist() == [[0.25, 0.25, 1.0]]


def test_maxout(rng: np.random.Generator) -> None:
    k, units = 3, 4
    x = rng.standard_normal((5, k * units))
    dout = rng.standard_normal((5, units))
    out, cache = act.maxout_forward(x, k)
    assert np.allclose(out, x.reshape(5, k, units).max(axis=1))
    dx = act.maxout_backward(dout, cache)
    num = numerical_gradient_array(lambda: act.maxout_forward(x, k)[0], x, dout)
    assert rel_error(dx, num) < TOL


def test_batchnorm_train_mode(rng: np.random.Generator) -> None:
    x = rng.standard_normal((8, 5)) * 3 + 2
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    dout = rng.standard_normal((8, 5))

    def forward() -> np.ndarray:
        return batchnorm_forward(x, gamma, beta, BatchNormState.zeros(5, np.float64), train=True)[0]

    out, cache = batchnorm_forward(x, gamma, beta, BatchNormState.zeros(5, np.float64), train=True)
    assert np.allclose((out - beta) / gamma, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5))
    assert cache is not None
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    assert rel_error(dx, numerical_gradient_array(forward, x, dout)) < TOL
    assert rel_error(dgamma, numerical_gradient_array(forward, gamma, dout)) < TOL
    assert rel_error(dbeta, numerical_gradient_array(forward, beta, dout)) < TOL


def test_dropout_with_fixed_mask(rng: np.random.Generator) -> None:
    x = rng.standard_normal((6, 7))
    dout = rng.standard_normal((6, 7))
    _, mask = dropout_forward(x, 0.4, rng=np.random.default_rng(0))
    dx = dropout_backward(dout, mask)
    num = numerical_gradient_array(lambda: dropout_forward(x, 0.4, mask=mask)[0], x, dout)
    assert rel_error(dx, num) < TOL


def test_softmax_loss(rng: np.random.Generator) -> None:
    scores = rng.standard_normal((7, 5))
    y = rng.integers(0, 5, 7)
    loss, dscores = softmax_loss(scores.copy(), y)
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(7), y]).mean())
    num = numerical_gradient(lambda: softmax_loss(scores.copy(), y)[0], scores)
    assert rel_error(dscores, num) < TOL


def test_softmax_loss_is_stable_and_in_place() -> None:
    scores = np.array([[1000.0, 0.0], [0.0, 1000.0]], dtype=np.float32)
    loss, dscores = softmax_loss(scores, np.array([0, 0]), out=scores)
    assert loss == pytest.approx(500.0)
    assert dscores is scores
    assert np.allclose(dscores, [[0, 0], [-0.5, 0.5]])


def test_l2(rng: np.random.Generator) -> None:
    w = rng.standard_normal((4, 3))
    assert l2_penalty(w, 0.3) == pytest.approx(0.15 * np.sum(w**2))
    grad = l2_grad(w, 0.3, np.zeros_like(w))
    assert rel_error(grad, numerical_gradient(lambda: l2_penalty(w, 0.3), w)) < TOL


CASES = [
    (activation, bn, dropout)
    for activation in ("relu", "leaky_relu", "prelu", "elu", "tanh", "sigmoid", "maxout")
    for bn, dropout in ((False, 0.0), (True, 0.3))
]


@pytest.mark.parametrize(("activation", "batchnorm", "dropout"), CASES)
def test_whole_mlp_with_reg(activation: str, batchnorm: bool, dropout: float) -> None:
    data_rng = np.random.default_rng(0)
    X, y = data_rng.standard_normal((6, 5)), data_rng.integers(0, 4, 6)
    config = TrainConfig(
        hidden_sizes=(7, 6),
        activation=activation,
        batchnorm=batchnorm,
        dropout=dropout,
        reg=0.1,
        init="xavier",
        maxout_k=3,
        leaky_slope=0.1,
    )
    model = MLP(5, 4, config, np.random.default_rng(3), dtype=np.float64)

    def loss() -> float:
        model.dropout_rng = np.random.default_rng(7)  # the same dropout mask every call
        return model.loss(X, y)[0]

    value = loss()
    analytic = {name: g.copy() for name, g in model.grads.items()}
    assert set(analytic) == set(model.params)
    for name, param in model.params.items():
        assert rel_error(analytic[name], numerical_gradient(loss, param)) < TOL, name
    assert loss() == value  # the checks left the parameters as they were
