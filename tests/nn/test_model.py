"""The MLP: parameter layout, dtypes, modes and state copies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from worker.nn.config import TrainConfig
from worker.nn.model import MLP


def make(config: TrainConfig, dims: tuple[int, int] = (8, 3), seed: int = 0) -> MLP:
    return MLP(dims[0], dims[1], config, np.random.default_rng(seed))


def test_parameters_are_named_views_of_one_flat_array() -> None:
    model = make(TrainConfig(hidden_sizes=(5, 4), activation="prelu"))
    assert list(model.params) == ["W1", "W2", "W3", "b1", "alpha1", "b2", "alpha2", "b3"]
    assert model.params["W1"].shape == (8, 5) and model.params["W3"].shape == (4, 3)
    assert model.flat_params.size == sum(p.size for p in model.params.values())
    for name, p in model.params.items():
        assert np.shares_memory(p, model.flat_params), name
        assert np.shares_memory(model.grads[name], model.flat_grads), name
    assert np.all(model.params["alpha1"] == 0.25) and np.all(model.params["b1"] == 0)


def test_batchnorm_replaces_the_hidden_bias_and_maxout_widens_the_affine() -> None:
    model = make(TrainConfig(hidden_sizes=(5,), batchnorm=True, activation="maxout", maxout_k=3))
    assert "b1" not in model.params
    assert model.params["W1"].shape == (8, 15)
    assert np.all(model.params["gamma1"] == 1) and np.all(model.params["beta1"] == 0)


def test_float32_throughout() -> None:
    model = make(TrainConfig(hidden_sizes=(6,), batchnorm=True, dropout=0.2))
    X = np.random.default_rng(1).standard_normal((10, 8))  # float64 input is cast
    loss, grads = model.loss(X, np.arange(10) % 3)
    assert isinstance(loss, float)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert model.loss(X).dtype == np.float32


def test_initial_loss_is_near_ln_c() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 50)).astype(np.float32)
    y = rng.integers(0, 10, 500)
    for init in ("small", "xavier", "he"):
        model = MLP(50, 10, TrainConfig(init=init, reg=0.0), np.random.default_rng(1))
        loss, _ = model.loss(X, y)
        assert loss == pytest.approx(math.log(10), rel=0.05), init


def test_same_seed_same_weights() -> None:
    a = make(TrainConfig(hidden_sizes=(7, 7)), seed=4)
    b = make(TrainConfig(hidden_sizes=(7, 7)), seed=4)
    c = make(TrainConfig(hidden_sizes=(7, 7)), seed=5)
    assert np.array_equal(a.flat_params, b.flat_params)
    assert not np.array_equal(a.flat_params, c.flat_params)


def test_dropout_only_in_training_mode() -> None:
    model = make(TrainConfig(hidden_sizes=(50,), dropout=0.5, reg=0.0))
    X = np.random.default_rng(2).standard_normal((20, 8)).astype(np.float32)
    y = np.arange(20) % 3
    assert np.array_equal(model.loss(X), model.loss(X))  # test mode is deterministic
    assert model.loss(X, y)[0] != model.loss(X, y)[0]  # fresh masks each training step


def test_batchnorm_test_mode_uses_running_averages() -> None:
    model = make(TrainConfig(hidden_sizes=(6,), batchnorm=True, bn_momentum=0.0))
    X = np.random.default_rng(3).standard_normal((32, 8)).astype(np.float32) * 4 + 1
    y = np.arange(32) % 3
    model.loss(X, y)  # momentum 0: the running averages become this batch's statistics
    train_scores = model.forward(X, train=True)[0].copy()
    test_scores = model.loss(X)
    assert np.allclose(test_scores, train_scores, atol=1e-4)
    # a single example in test mode gets the same scores as inside the batch
    assert np.allclose(model.loss(X[:1]), test_scores[:1], atol=1e-5)


def test_state_round_trip() -> None:
    model = make(TrainConfig(hidden_sizes=(6,), batchnorm=True))
    X = np.random.default_rng(3).standard_normal((16, 8)).astype(np.float32)
    saved = model.state()
    before = model.loss(X).copy()
    model.flat_params *= 3
    model.loss(X, np.zeros(16, int))
    assert not np.allclose(model.loss(X), before)
    model.load_state(saved)
    assert np.array_equal(model.loss(X), before)


def test_evaluate() -> None:
    model = make(TrainConfig(hidden_sizes=()), dims=(2, 2))
    model.params["W1"][...] = [[1, 0], [0, 1]]
    X = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]], np.float32)
    acc, loss = model.evaluate(X, np.array([0, 1, 1]), batch_size=2)
    assert acc == pytest.approx(2 / 3)
    expected = (2 * math.log(1 + math.exp(-2)) + math.log(1 + math.exp(2))) / 3
    assert loss == pytest.approx(expected, rel=1e-5)
