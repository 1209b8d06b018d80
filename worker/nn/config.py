"""Training configuration of the built-in NumPy trainer (standard library only).

The server imports this module to refuse unknown parameter names (``KNOWN_PARAMS``)
and to validate a task (``config_from``), so it must stay cheap to import.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from hpsearch.defaults import EARLY_ABORT_LOSS_FACTOR, EARLY_ABORT_STALL_EPOCHS

ACTIVATIONS = ("relu", "leaky_relu", "prelu", "elu", "tanh", "sigmoid", "maxout")
INITS = ("small", "xavier", "he")
PREPROCESSINGS = ("none", "mean_image", "per_channel_mean", "standardize")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
LR_DECAYS = ("none", "step", "exponential", "cosine")
# Upper bounds, so a setting cannot ask a worker for more memory or time than it has.
MAX_LAYERS = 64
MAX_UNITS = 16_384
MAX_EPOCHS = 1_000_000
MAX_BATCH_SIZE = 1_000_000
MAX_HIDDEN_WEIGHTS = 50_000_000  # weights between hidden layers (x maxout_k)


class ConfigError(ValueError):
    """A training setting is unknown or has a bad value."""


@dataclass(frozen=True)
class TrainConfig:
    """Every setting the built-in trainer understands; validated on construction.

    ``hidden_size`` and ``num_layers`` are a searchable alternative to ``hidden_sizes``:
    when either is set, ``hidden_sizes`` becomes ``(hidden_size,) * num_layers`` (a missing
    one is taken from ``hidden_sizes``).
    """

    hidden_sizes: tuple[int, ...] = (100,)
    hidden_size: int | None = None
    num_layers: int | None = None
    activation: str = "relu"
    leaky_slope: float = 0.01
    elu_alpha: float = 1.0
    maxout_k: int = 2
    init: str = "he"
    init_std: float = 0.01
    batchnorm: bool = False
    bn_momentum: float = 0.9
    dropout: float = 0.0
    preprocessing: str = "standardize"
    learning_rate: float = 1e-3
    reg: float = 1e-4
    optimizer: str = "adam"
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    lr_decay: str = "none"
    lr_decay_rate: float = 0.95
    lr_step_epochs: int = 10
    batch_size: int = 64
    epochs: int = 10
    seed: int = 0
    loss_factor: float = EARLY_ABORT_LOSS_FACTOR
    stall_epochs: int = EARLY_ABORT_STALL_EPOCHS  # 0: never abort a stalled run
    early_abort: bool = True  # False: only a non-finite loss aborts
    train_acc_sample: int = 1000
    monitor: bool = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
        if self.hidden_size is not None or self.num_layers is not None:
            size = self.hidden_size
            if size is None:
                size = self.hidden_sizes[0] if self.hidden_sizes else 100
            count = len(self.hidden_sizes) if self.num_layers is None else self.num_layers
            object.__setattr__(self, "hidden_sizes", (size,) * count)
        sizes = self.hidden_sizes
        weights = sum(a * b for a, b in pairwise(sizes))
        if self.activation == "maxout":
            weights *= self.maxout_k
        if weights > MAX_HIDDEN_WEIGHTS:
            raise ConfigError(
                f"hidden layers {list(sizes)} hold {weights} weights; "
                f"at most {MAX_HIDDEN_WEIGHTS} (fewer or narrower layers)"
            )
        if self.batchnorm and self.batch_size < 2:
            # a batch of one is its own mean: every output is beta and every gradient 0
            raise ConfigError(
                f"'batchnorm' needs 'batch_size' >= 2, got {self.batch_size}: batch statistics "
                "of one example train nothing"
            )


_CHOICES: dict[str, tuple[str, ...]] = {
    "activation": ACTIVATIONS,
    "init": INITS,
    "preprocessing": PREPROCESSINGS,
    "optimizer": OPTIMIZERS,
    "lr_decay": LR_DECAYS,
}
# (lowest, highest, lowest included, highest included) for numeric settings.
_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "hidden_size": (1, MAX_UNITS, True, True),
    "num_layers": (0, MAX_LAYERS, True, True),
    "leaky_slope": (0.0, 1.0, True, False),
    "elu_alpha": (0.0, math.inf, False, False),
    "maxout_k": (2, 16, True, True),
    "init_std": (0.0, math.inf, False, False),
    "bn_momentum": (0.0, 1.0, True, False),
    "dropout": (0.0, 1.0, True, False),
    "learning_rate": (0.0, math.inf, False, False),
    "reg": (0.0, math.inf, True, False),
    "momentum": (0.0, 1.0, True, False),
    "beta1": (0.0, 1.0, True, False),
    "beta2": (0.0, 1.0, True, False),
    "lr_decay_rate": (0.0, 1.0, False, True),
    "lr_step_epochs": (1, MAX_EPOCHS, True, True),
    "batch_size": (1, MAX_BATCH_SIZE, True, True),
    "epochs": (1, MAX_EPOCHS, True, True),
    "seed": (0, 2**63 - 1, True, True),
    "loss_factor": (1.0, math.inf, False, False),
    "stall_epochs": (0, MAX_EPOCHS, True, True),
    "train_acc_sample": (1, 10_000_000, True, True),
}
_INTS = frozenset(
    {
        "hidden_size",
        "num_layers",
        "maxout_k",
        "lr_step_epochs",
        "batch_size",
        "epochs",
        "seed",
        "stall_epochs",
        "train_acc_sample",
    }
)
_BOOLS = frozenset({"batchnorm", "monitor", "early_abort"})

# settings that are valid alone but not in every combination: checked together
RELATED_PARAMS: tuple[tuple[str, str], ...] = (("batchnorm", "batch_size"),)

KNOWN_PARAMS: frozenset[str] = frozenset(
    f.name for f in dataclasses.fields(TrainConfig)
    if f.name not in ("epochs", "seed", "early_abort")
)


def setting_domain(name: str) -> tuple[float, float, bool, bool] | None:
    """The values a numeric setting can take at all, as (lowest, highest, lowest
    included, highest included); None for a setting that is not a number."""
    return _RANGES.get(name)


def _bad(name: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"bad value for {name!r}: {value!r}; allowed: {allowed}")


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(name, value, "an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise _bad(name, value, "an integer")
        return int(value)
    return value


def _as_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    raise _bad(name, value, "true or false")


def _check_range(name: str, value: float, given: object) -> None:
    low, high, low_in, high_in = _RANGES[name]
    if (value < low or (value == low and not low_in)) or (
        value > high or (value == high and not high_in)
    ):
        lo = f"{'[' if low_in else '('}{low:g}"
        hi = f"{high:g}{']' if high_in else ')'}"
        raise _bad(name, given, f"a number in {lo}, {hi}")


def _as_sizes(name: str, value: object) -> tuple[int, ...]:
    """Layer widths from a list, a number, "100,50" or "100x3" (three layers of 100);
    the layer count is checked before any list of that length is built."""
    allowed = f"a list of at most {MAX_LAYERS} positive integers, each at most {MAX_UNITS}"
    items: list[Any]
    if isinstance(value, str):
        try:
            if "x" in value:
                size, count = value.split("x")
                layers = _as_int(name, float(count))
                if not 0 <= layers <= MAX_LAYERS:
                    raise _bad(name, value, allowed)
                items = [float(size)] * layers
            else:
                items = [float(s) for s in value.split(",") if s.strip()]
        except ValueError:
            raise _bad(name, value, allowed) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        items = [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise _bad(name, value, allowed)
    if len(items) > MAX_LAYERS:
        raise _bad(name, value, allowed)
    sizes = tuple(_as_int(name, v) for v in items)
    if any(not 1 <= s <= MAX_UNITS for s in sizes):
        raise _bad(name, value, allowed)
    return sizes


def _coerce(name: str, value: object) -> object:
    """Return ``value`` converted to the type of setting ``name``; raise ConfigError if bad."""
    if name == "hidden_sizes":
        return _as_sizes(name, value)
    if name in _BOOLS:
        return _as_bool(name, value)
    if name in _CHOICES:
        allowed = _CHOICES[name]
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in allowed:
            raise _bad(name, value, ", ".join(allowed))
        return text
    if value is None and name in ("hidden_size", "num_layers"):
        return None
    if name in _INTS:
        number: float = _as_int(name, value)
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(name, value, "a number")
    else:
        number = float(value)
        if not math.isfinite(number):
            raise _bad(name, value, "a finite number")
    _check_range(name, number, value)
    return number


def config_from(settings: Mapping[str, object], *, epochs: int, seed: int,
                early_abort: bool = True) -> TrainConfig:
    """Build and validate a TrainConfig; ``epochs``, ``seed`` and whether early abort is on
    come from the server.

    Raises ConfigError naming an unknown key (listing the known ones) or a bad value.
    """
    for key in settings:
        if key not in KNOWN_PARAMS:
            note = " (set by the server)" if key in ("epochs", "seed", "early_abort") else ""
            raise ConfigError(
                f"unknown parameter {key!r}{note}; known parameters: "
                + ", ".join(sorted(KNOWN_PARAMS))
            )
    if "hidden_sizes" in settings and ("hidden_size" in settings or "num_layers" in settings):
        raise ConfigError("give either 'hidden_sizes' or 'hidden_size'/'num_layers', not both")
    # values of any type: __post_init__ coerces and checks each one, naming the key
    return TrainConfig(**dict(settings), epochs=epochs, seed=seed,  # type: ignore[arg-type]
                       early_abort=early_abort)
