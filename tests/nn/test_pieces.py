"""Batchnorm modes, dropout, init, optimizers, schedules and preprocessing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from worker.nn.batchnorm import BatchNormState, batchnorm_forward
from worker.nn.init import init_std, init_weights
from worker.nn.layers import dropout_forward, dropout_mask
from worker.nn.optim import UPDATE_RULES, State, UpdateRule, adam, nesterov, sgd, sgd_momentum
from worker.nn.preprocessing import Preprocessor
from worker.nn.schedules import learning_rate_at


def test_batchnorm_running_averages_and_test_mode() -> None:
    rng = np.random.default_rng(0)
    state = BatchNormState.zeros(3, np.float64, momentum=0.9)
    gamma, beta = np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0])
    batches = [rng.standard_normal((16, 3)) * [1, 2, 3] + [5, -2, 0] for _ in range(3)]
    mean, var = np.zeros(3), np.ones(3)
    for x in batches:
        batchnorm_forward(x, gamma, beta, state, train=True)
        mean = 0.9 * mean + 0.1 * x.mean(axis=0)
        var = 0.9 * var + 0.1 * x.var(axis=0)
    assert np.allclose(state.running_mean, mean)
    assert np.allclose(state.running_var, var)

    x = rng.standard_normal((4, 3))
    out, cache = batchnorm_forward(x, gamma, beta, state, train=False)
    assert cache is None
    assert np.allclose(out, gamma * (x - mean) / np.sqrt(var + 1e-5) + beta)
    assert np.allclose(state.running_mean, mean)  # test mode leaves the averages alone
    # a single example in test mode is not normalized by its own (zero) variance
    single, _ = batchnorm_forward(x[:1], gamma, beta, state, train=False)
    assert np.allclose(single, out[:1])


def test_batchnorm_train_mode_normalizes_the_batch() -> None:
    x = np.random.default_rng(1).standard_normal((64, 4)).astype(np.float32) * 7 + 3
    out, _ = batchnorm_forward(
        x, np.ones(4, np.float32), np.zeros(4, np.float32), BatchNormState.zeros(4), train=True
    )
    assert out.dtype == np.float32
    assert np.allclose(out.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(out.std(axis=0), 1, atol=1e-3)


def test_dropout_is_inverted() -> None:
    rng = np.random.default_rng(0)
    mask = dropout_mask((400, 500), 0.3, rng)
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) == {np.float32(0), np.float32(1 / 0.7)}
    assert np.mean(mask == 0) == pytest.approx(0.3, abs=0.005)
    x = np.ones((400, 500), np.float32)
    out, _ = dropout_forward(x, 0.3, rng=rng)
    assert out.mean() == pytest.approx(1.0, abs=0.01)  # expectation kept at train time
    with pytest.raises(ValueError, match="rng or mask"):
        dropout_forward(x, 0.3)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("small", 0.01), ("xavier", 1 / math.sqrt(1000)), ("he", 1 / math.sqrt(500))],
)
def test_init_std_on_a_large_matrix(kind: str, expected: float) -> None:
    w = init_weights(kind, 1000, 2000, np.random.default_rng(0))
    assert w.dtype == np.float32 and w.shape == (1000, 2000)
    assert init_std(kind, 1000) == pytest.approx(expected)
    assert w.std() == pytest.approx(expected, rel=0.005)
    assert abs(w.mean()) < expected * 0.005


def test_init_is_reproducible_from_the_generator() -> None:
    a = init_weights("he", 30, 20, np.random.default_rng(5))
    b = init_weights("he", 30, 20, np.random.default_rng(5))
    c = init_weights("he", 30, 20, np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert init_weights("small", 30, 20, np.random.default_rng(5), std=0.5).std() > 0.4
    with pytest.raises(ValueError, match="unknown init"):
        init_std("uniform", 3)


def run_steps(rule: UpdateRule, state: State, grads: list[list[float]]) -> list[np.ndarray]:
    w = np.array([1.0, -2.0])
    seen = []
    for g in grads:
        w, state = rule(w, np.array(g), state)
        seen.append(w.copy())
    return seen


GRADS = [[0.5, -1.0], [0.25, 2.0]]


def test_sgd_steps() -> None:
    w1, w2 = run_steps(sgd, {"learning_rate": 0.1}, GRADS)
    assert np.allclose(w1, [0.95, -1.9])
    assert np.allclose(w2, [0.925, -2.1])


def test_momentum_steps() -> None:
    w1, w2 = run_steps(sgd_momentum, {"learning_rate": 0.1, "momentum": 0.9}, GRADS)
    # v1 = -0.1 g1 = [-0.05, 0.1]; v2 = 0.9 v1 - 0.1 g2 = [-0.07, -0.11]
    assert np.allclose(w1, [0.95, -1.9])
    assert np.allclose(w2, [0.88, -2.01])


def test_nesterov_steps() -> None:
    w1, w2 = run_steps(nesterov, {"learning_rate": 0.1, "momentum": 0.9}, GRADS)
    # w += -mu v_prev + (1 + mu) v; v1 = [-0.05, 0.1], v2 = [-0.07, -0.11]
    assert np.allclose(w1, [1 + 1.9 * -0.05, -2 + 1.9 * 0.1])
    assert np.allclose(w2, w1 - 0.9 * np.array([-0.05, 0.1]) + 1.9 * np.array([-0.07, -0.11]))


def torch_sgd(rates: list[float], mu: float, nesterov: bool) -> list[np.ndarray]:
    """PyTorch's SGD with momentum: ``b = mu b + g``; ``w -= lr (g + mu b)`` (Nesterov) or
    ``w -= lr b``, the rate applied outside the buffer."""
    w, b, seen = np.array([1.0, -2.0]), np.zeros(2), []
    for lr, g in zip(rates, GRADS * 2, strict=True):
        b = mu * b + np.array(g)
        w = w - lr * (np.array(g) + mu * b if nesterov else b)
        seen.append(w)
    return seen


@pytest.mark.parametrize(("rule", "is_nesterov"), [(sgd_momentum, False), (nesterov, True)])
def test_momentum_matches_pytorch_when_the_rate_changes(rule: UpdateRule,
                                                        is_nesterov: bool) -> None:
    rates = [0.1, 0.1, 0.05, 0.02]
    state: State = {"momentum": 0.9}
    w, seen = np.array([1.0, -2.0]), []
    for lr, g in zip(rates, GRADS * 2, strict=True):
        state["learning_rate"] = lr
        w, state = rule(w, np.array(g), state)
        seen.append(w.copy())
    assert np.allclose(seen, torch_sgd(rates, 0.9, is_nesterov))


def test_adam_steps() -> None:
    state = {"learning_rate": 0.1, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    w1, w2 = run_steps(adam, state, GRADS)
    # step 1: m_hat = g, v_hat = g^2, so each weight moves by lr * sign(g)
    assert np.allclose(w1, [0.9, -1.9])
    g1, g2 = np.array(GRADS[0]), np.array(GRADS[1])
    m = 0.1 * 0.9 * g1 + 0.1 * g2
    v = 0.001 * 0.999 * g1**2 + 0.001 * g2**2
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    assert np.allclose(w2, w1 - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-8))
    assert state["t"] == 2


def test_update_rules_work_in_place_on_float32() -> None:
    for name, rule in UPDATE_RULES.items():
        w = np.ones(5, np.float32)
        state = {"learning_rate": 0.01, "momentum": 0.9, "beta1": 0.9, "beta2": 0.999}
        out, _ = rule(w, np.full(5, 0.5, np.float32), state)
        assert out is w and w.dtype == np.float32, name
        assert np.all(w < 1), name


def test_schedules() -> None:
    assert learning_rate_at(0.1, "none", 7, epochs=10) == 0.1
    assert learning_rate_at(0.1, "step", 9, epochs=30, rate=0.5, step_epochs=10) == 0.1
    assert learning_rate_at(0.1, "step", 10, epochs=30, rate=0.5, step_epochs=10) == 0.05
    assert learning_rate_at(0.1, "step", 25, epochs=30, rate=0.5, step_epochs=10) == 0.025
    assert learning_rate_at(0.1, "exponential", 3, epochs=10, rate=0.9) == pytest.approx(0.0729)
    assert learning_rate_at(0.1, "cosine", 0, epochs=10) == pytest.approx(0.1)
    assert learning_rate_at(0.1, "cosine", 5, epochs=10) == pytest.approx(0.05)
    assert learning_rate_at(0.1, "cosine", 9, epochs=10) == pytest.approx(
        0.05 * (1 + math.cos(0.9 * math.pi))
    )
    with pytest.raises(ValueError, match="unknown lr_decay"):
        learning_rate_at(0.1, "linear", 0, epochs=1)


def test_preprocessing_is_fitted_on_training_data_only() -> None:
    rng = np.random.default_rng(0)
    train = (rng.standard_normal((500, 6)) * [1, 2, 3, 4, 5, 0] + 10).astype(np.float32)
    val = (rng.standard_normal((50, 6)) + 100).astype(np.float32)
    mean_image = Preprocessor.fit("mean_image", train)
    assert np.allclose(mean_image.transform(train).mean(axis=0), 0, atol=1e-4)
    assert np.allclose(mean_image.transform(val), val - train.mean(axis=0), atol=1e-4)
    std = Preprocessor.fit("standardize", train)
    out = std.transform(train)
    assert out.dtype == np.float32
    assert np.allclose(out.std(axis=0)[:5], 1, atol=1e-4)
    assert np.allclose(out[:, 5], 0)  # a constant feature is centred, not divided by 0
    assert np.allclose(
        std.transform(val)[:, 0], (val[:, 0] - train[:, 0].mean()) / train[:, 0].std(), atol=1e-3
    )
    none = Preprocessor.fit("none", train)
    assert np.array_equal(none.transform(val), val)
    assert not np.shares_memory(none.transform(val), val)


def test_per_channel_mean() -> None:
    rng = np.random.default_rng(0)
    images = (
        rng.standard_normal((20, 3, 4, 4)).astype(np.float32) + np.array([1, 2, 3])[:, None, None]
    )
    flat = images.reshape(20, -1)
    pre = Preprocessor.fit("per_channel_mean", flat, (3, 4, 4))
    out = pre.transform(flat).reshape(20, 3, 4, 4)
    channel_means = images.mean(axis=(0, 2, 3))
    assert np.allclose(out, images - channel_means[:, None, None], atol=1e-5)
    # without an image shape the data is one channel: one scalar mean
    one = Preprocessor.fit("per_channel_mean", flat)
    assert np.allclose(one.transform(flat), flat - flat.mean(), atol=1e-5)
    with pytest.raises(ValueError, match="unknown preprocessing"):
        Preprocessor.fit("whiten", flat)
