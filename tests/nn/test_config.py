"""TrainConfig construction and validation (the server's contract)."""

from __future__ import annotations

import dataclasses

import pytest

from worker.nn.config import KNOWN_PARAMS, ConfigError, TrainConfig, config_from


def test_defaults_and_known_params() -> None:
    config = config_from({}, epochs=5, seed=3)
    assert config == TrainConfig(epochs=5, seed=3)
    assert config.hidden_sizes == (100,) and config.loss_factor == 3.0
    assert config.stall_epochs == 3 and config.monitor is True
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields - KNOWN_PARAMS == {"epochs", "seed", "early_abort"}  # set by the server
    assert isinstance(KNOWN_PARAMS, frozenset)


def test_values_are_coerced() -> None:
    config = config_from(
        {
            "batch_size": 64.0,
            "batchnorm": True,
            "monitor": "false",
            "activation": "Tanh",
            "hidden_sizes": [50.0, 20],
            "learning_rate": 1,
            "dropout": 0.5,
        },
        epochs=2,
        seed=0,
    )
    assert config.batch_size == 64 and isinstance(config.batch_size, int)
    assert config.batchnorm is True and config.monitor is False
    assert config.activation == "tanh"
    assert config.hidden_sizes == (50, 20)
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config_from({"hidden_sizes": "64x3"}, epochs=1, seed=0).hidden_sizes == (64, 64, 64)
    assert config_from({"hidden_sizes": "64,32"}, epochs=1, seed=0).hidden_sizes == (64, 32)
    assert config_from({"hidden_sizes": []}, epochs=1, seed=0).hidden_sizes == ()


def test_hidden_size_and_num_layers_build_hidden_sizes() -> None:
    assert config_from({"hidden_size": 32, "num_layers": 3}, epochs=1, seed=0).hidden_sizes == (
        32,
        32,
        32,
    )
    assert config_from({"hidden_size": 32.0}, epochs=1, seed=0).hidden_sizes == (32,)
    assert config_from({"num_layers": 2}, epochs=1, seed=0).hidden_sizes == (100, 100)
    with pytest.raises(ConfigError, match="not both"):
        config_from({"hidden_sizes": [10], "hidden_size": 5}, epochs=1, seed=0)


def test_unknown_key_names_it_and_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        config_from({"lr": 0.1}, epochs=1, seed=0)
    message = str(info.value)
    assert "'lr'" in message and "learning_rate" in message and "batch_size" in message
    with pytest.raises(ConfigError, match="set by the server"):
        config_from({"epochs": 3}, epochs=1, seed=0)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("activation", "swish", "relu"),
        ("init", "orthogonal", "xavier"),
        ("optimizer", "rmsprop", "adam"),
        ("preprocessing", "pca", "standardize"),
        ("lr_decay", "linear", "cosine"),
        ("batch_size", 64.5, "integer"),
        ("batch_size", 0, "[1"),
        ("batch_size", True, "integer"),
        ("learning_rate", -0.1, "(0"),
        ("learning_rate", float("nan"), "finite"),
        ("learning_rate", "fast", "number"),
        ("dropout", 1.0, "[0, 1)"),
        ("reg", -1e-3, "[0"),
        ("momentum", 1.5, "[0, 1)"),
        ("maxout_k", 1, "[2"),
        ("batchnorm", "maybe", "true or false"),
        ("hidden_sizes", [100, 0], "positive integers"),
        ("hidden_sizes", "wide", "positive integers"),
        ("loss_factor", 1.0, "(1"),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_values(
    key: str, value: object, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config_from({key: value}, epochs=1, seed=0)
    assert repr(key) in str(info.value) and words in str(info.value)


def test_direct_construction_is_validated() -> None:
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError):  # ConfigError is a ValueError
        TrainConfig(activation="gelu")


def test_batchnorm_needs_batches_of_two() -> None:
    with pytest.raises(ConfigError, match="'batchnorm' needs 'batch_size' >= 2, got 1"):
        config_from({"batchnorm": True, "batch_size": 1}, epochs=1, seed=0)
    assert config_from({"batchnorm": True, "batch_size": 2}, epochs=1, seed=0).batch_size == 2
    assert config_from({"batchnorm": False, "batch_size": 1}, epochs=1, seed=0).batch_size == 1
