"""The trainer: accuracy, early abort, stall detection, callbacks, diagnostics, best weights."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

import numpy as np
import pytest

from worker.datasets import Dataset, load_dataset
from worker.nn.config import TrainConfig
from worker.nn.diagnostics import activation_stats, health_notes, update_ratio
from worker.nn.trainer import DivergenceGuard, train


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="module")
def spiral() -> Dataset:
    return load_dataset("spiral")


def strip_time(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in h.items() if k != "elapsed_s"} for h in history]


def test_default_config_learns_digits(digits: Dataset) -> None:
    result = train(TrainConfig(epochs=15), digits)
    assert result.state == "completed" and result.reason is None
    m = result.metrics
    assert m["val_accuracy"] >= 0.95
    assert m["val_accuracy"] == max(h["val_accuracy"] for h in result.history)
    assert m["epochs_run"] == len(result.history) == 15
    assert m["initial_loss"] == pytest.approx(math.log(10), rel=0.1)
    assert m["train_loss"] < 0.5 * m["initial_loss"]
    assert m["test_accuracy"] >= 0.9
    assert 1 <= m["best_epoch"] <= 15


def test_learning_rate_10_aborts_within_the_first_epoch(digits: Dataset) -> None:
    calls: list[int] = []
    result = train(
        TrainConfig(epochs=5, learning_rate=10.0, optimizer="sgd"),
        digits,
        on_epoch=lambda e, m: calls.append(e) or False,
    )
    assert result.state == "aborted"
    assert result.reason is not None
    assert re.fullmatch(r"loss \S+ > 3 x initial 2\.\d\d at epoch 1, step \d+", result.reason)
    assert calls == [] and result.history == []
    assert result.metrics["epochs_run"] == 0
    assert result.metrics["initial_loss"] == pytest.approx(math.log(10), rel=0.1)
    assert "val_accuracy" not in result.metrics
    json.dumps(result.metrics, allow_nan=False)


def test_non_finite_loss_aborts(digits: Dataset) -> None:
    result = train(TrainConfig(epochs=2, learning_rate=1e30, optimizer="sgd"), digits)
    assert result.state == "aborted"
    assert "non-finite" in (result.reason or "")
    assert result.metrics["train_loss"] is None  # JSON has no NaN
    json.dumps(result.metrics, allow_nan=False)


def test_early_abort_off_keeps_diverging_and_stalled_runs_going(digits: Dataset) -> None:
    config = TrainConfig(epochs=2, learning_rate=3.0, optimizer="sgd", monitor=False)
    assert train(config, digits).state == "aborted"  # loss past 3x the initial loss
    diverging = train(dataclasses.replace(config, early_abort=False), digits)
    assert diverging.state == "completed" and diverging.metrics["epochs_run"] == 2
    stalled = train(TrainConfig(epochs=4, learning_rate=1e-9, optimizer="sgd",
                                early_abort=False, monitor=False), digits)
    assert stalled.state == "completed" and stalled.metrics["epochs_run"] == 4
    nan = train(TrainConfig(epochs=2, learning_rate=1e30, optimizer="sgd", early_abort=False),
                digits)
    assert nan.state == "aborted" and "non-finite" in (nan.reason or "")


def test_divergence_guard_smooths_and_words_the_reason() -> None:
    guard = DivergenceGuard(3.0)
    assert guard.check(2.3, 1, 1) is None and guard.initial == 2.3
    assert guard.check(8.0, 1, 2) is None  # one spike: the smoothed loss is 2.87
    reason = None
    step = 2
    while reason is None:
        step += 1
        reason = guard.check(8.0, 1, step)
    assert reason == f"loss {guard.smoothed:.3g} > 3 x initial 2.30 at epoch 1, step {step}"
    assert guard.smoothed > 6.9
    assert "non-finite" in (DivergenceGuard(3.0).check(math.inf, 2, 5) or "")


def test_stall_is_detected_with_words(digits: Dataset) -> None:
    result = train(TrainConfig(epochs=6, learning_rate=1e-9, optimizer="sgd"), digits)
    assert result.state == "aborted"
    assert result.metrics["epochs_run"] == 3
    assert re.match(
        r"stalled: loss 2\.\d\d vs initial 2\.\d\d after 3 epochs, "
        r"val accuracy \d+\.\d% at chance",
        result.reason or "",
    )
    no_stall = train(
        TrainConfig(epochs=4, learning_rate=1e-9, optimizer="sgd", stall_epochs=0, monitor=False),
        digits,
    )
    assert no_stall.state == "completed" and no_stall.metrics["epochs_run"] == 4


def test_stall_reason_names_collapsed_and_dead_layers(digits: Dataset) -> None:
    deep_small = TrainConfig(
        epochs=5,
        hidden_sizes=(100,) * 6,
        init="small",
        activation="tanh",
        optimizer="sgd",
        learning_rate=1e-2,
    )
    result = train(deep_small, digits)
    assert result.state == "aborted"
    assert re.fullmatch(
        r"stalled: .* at chance \(\d+\.\d%\); activations collapsed "
        r"\(std < 0\.0001\) in layers [\d, ]+",
        result.reason or "",
    )
    killed = TrainConfig(
        epochs=5, hidden_sizes=(50, 50), optimizer="sgd", learning_rate=3.0, loss_factor=50
    )
    result = train(killed, digits)
    assert result.state == "aborted"
    assert re.search(r"^stalled: .*; dead units \d+% in layer \d", result.reason or "")


def test_health_notes_name_dead_and_saturated_layers() -> None:
    dead = np.zeros((10, 4))
    saturated = np.tanh(np.full((10, 4), 5.0))
    layers = [
        {"layer": 1, **activation_stats(np.ones((10, 4)), "relu")},
        {"layer": 2, **activation_stats(dead, "relu")},
        {"layer": 3, **activation_stats(saturated, "tanh")},
        {"layer": 4, **activation_stats(np.full((10, 4), 1e-7) * np.arange(4), "tanh")},
        {"layer": 5, **activation_stats(np.ones((10, 3)), None)},
    ]
    assert health_notes(layers) == [
        "dead units 100% in layer 2",
        "saturated 100% in layer 3",
        "activations collapsed (std < 0.0001) in layer 4",
    ]


def test_on_epoch_prunes_and_gets_json_metrics(spiral: Dataset) -> None:
    seen: list[tuple[int, dict[str, Any]]] = []

    def on_epoch(epoch: int, metrics: dict[str, Any]) -> bool:
        seen.append((epoch, metrics))
        return epoch == 2

    config = TrainConfig(
        epochs=6,
        hidden_sizes=(20, 20),
        activation="tanh",
        batchnorm=True,
        dropout=0.1,
        learning_rate=1e-2,
    )
    result = train(config, spiral, on_epoch=on_epoch)
    assert result.state == "pruned" and "epoch 2" in (result.reason or "")
    assert [e for e, _ in seen] == [1, 2]
    metrics = seen[0][1]
    json.dumps(metrics, allow_nan=False)
    assert set(metrics) == {
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_accuracy",
        "val_loss",
        "learning_rate",
        "elapsed_s",
        "diagnostics",
    }
    assert all(type(v) in (int, float) for k, v in metrics.items() if k != "diagnostics")
    layers = metrics["diagnostics"]["layers"]
    assert [entry["layer"] for entry in layers] == [1, 2, 3]
    for entry in layers:
        assert set(entry) == {
            "layer",
            "update_ratio",
            "act_mean",
            "act_std",
            "dead_fraction",
            "saturation_fraction",
        }
        assert 1e-5 < entry["update_ratio"] < 1
        assert all(type(v) in (int, float) for v in entry.values())
    assert result.history == [m for _, m in seen]
    assert "test_accuracy" in result.metrics


def test_monitor_off_has_no_layer_diagnostics(spiral: Dataset) -> None:
    result = train(TrainConfig(epochs=1, monitor=False), spiral)
    assert result.history[0]["diagnostics"] == {"layers": []}


def test_dead_relus_show_in_diagnostics(spiral: Dataset) -> None:
    """A huge learning rate with plain SGD kills ReLUs (the lecture's dead-ReLU warning)."""
    result = train(
        TrainConfig(
            epochs=2,
            learning_rate=10.0,
            optimizer="momentum",
            hidden_sizes=(50,),
            loss_factor=1e9,
            stall_epochs=0,
        ),
        spiral,
    )
    dead = result.history[-1]["diagnostics"]["layers"][0]["dead_fraction"]
    assert dead > 0.3


def test_same_seed_reproduces_the_run_bit_for_bit(spiral: Dataset) -> None:
    config = TrainConfig(epochs=3, dropout=0.2, batchnorm=True, seed=7)
    a, b = train(config, spiral), train(config, spiral)
    assert strip_time(a.history) == strip_time(b.history)
    c = train(TrainConfig(epochs=3, dropout=0.2, batchnorm=True, seed=8), spiral)
    assert strip_time(c.history) != strip_time(a.history)


def test_test_accuracy_comes_from_the_best_epoch(digits: Dataset) -> None:
    long = train(TrainConfig(epochs=8, learning_rate=1e-2), digits)
    best = long.metrics["best_epoch"]
    short = train(TrainConfig(epochs=best, learning_rate=1e-2), digits)
    assert short.metrics["best_epoch"] == best
    assert long.metrics["test_accuracy"] == short.metrics["test_accuracy"]
    assert long.metrics["val_accuracy"] == long.history[best - 1]["val_accuracy"]
    assert long.metrics["final_val_accuracy"] == long.history[-1]["val_accuracy"]


def test_tiny_subset_is_overfit(digits: Dataset) -> None:
    X, y = digits.X_train[:20], digits.y_train[:20]
    tiny = Dataset(X, y, X, y, None, None, 10, "tiny")
    result = train(
        TrainConfig(epochs=200, batch_size=20, reg=0.0, stall_epochs=0),
        tiny,
        on_epoch=lambda _e, m: m["train_accuracy"] == 1.0,
    )
    assert result.metrics["train_accuracy"] == 1.0
    assert "test_accuracy" not in result.metrics


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
@pytest.mark.parametrize("decay", ["none", "step", "exponential", "cosine"])
def test_optimizers_and_schedules_train(spiral: Dataset, optimizer: str, decay: str) -> None:
    lr = 1e-2 if optimizer == "adam" else 0.3
    config = TrainConfig(
        epochs=4,
        optimizer=optimizer,
        lr_decay=decay,
        learning_rate=lr,
        lr_decay_rate=0.5,
        lr_step_epochs=2,
        hidden_sizes=(50,),
        batch_size=32,
    )
    result = train(config, spiral)
    assert result.state == "completed", result.reason
    rates = [h["learning_rate"] for h in result.history]
    expected = {
        "none": [lr] * 4,
        "step": [lr, lr, lr / 2, lr / 2],
        "exponential": [lr, lr / 2, lr / 4, lr / 8],
        "cosine": [lr * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)],
    }[decay]
    assert rates == pytest.approx(expected)
    assert result.history[-1]["train_loss"] < result.metrics["initial_loss"]


def test_update_ratio() -> None:
    w = np.ones(100)
    assert update_ratio(w, w + 1e-3) == pytest.approx(1e-3)
    assert update_ratio(np.zeros(3), np.zeros(3)) == 0.0
