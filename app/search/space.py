"""Typed search spaces: validation, scale mapping and membership.

Every numeric parameter maps a point ``u`` of the unit interval to a value through its
own scale (log10 for log parameters), so random and quasi-random samplers, refinement
and edge checks all work in the same "scale space" the lecture samples in
(``10**uniform(-6, -1)``).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from hpsearch.bounds import ExactInt, Int64

MAX_PARAMS = 64
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
UNIFORM_SPAN_WARNING = 100.0

Finite = Annotated[float, Field(allow_inf_nan=False)]
Scalar = str | Int64 | float | bool


class _Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Side = Literal["low", "high"]


class _Numeric(_Param):
    """A numeric range sampled uniformly in its scale (linear or log10).

    ``limits`` names the sides of the range that are hard limits (dropout at 0, a cap the
    user set on purpose): refinement never widens past them and an edge warning there says
    the range cannot move instead of advising to widen it.
    """

    limits: tuple[Side, ...] = Field(
        (),
        exclude_if=lambda v: not v,
        description="Sides of the range that are hard limits: 'low', 'high' or both.",
    )

    @field_validator("limits")
    @classmethod
    def _unique_sides(cls, v: tuple[Side, ...]) -> tuple[Side, ...]:
        if len(set(v)) != len(v):
            raise ValueError("limits names each side at most once")
        return v

    @property
    def is_log(self) -> bool:
        raise NotImplementedError

    def to_scale(self, value: float) -> float:
        """Map a value into scale space (log10 for log parameters)."""
        return math.log10(value) if self.is_log else float(value)

    def from_scale(self, x: float) -> float:
        return 10.0**x if self.is_log else float(x)

    def scale_bounds(self) -> tuple[float, float]:
        """The range in scale space."""
        # low and high are fields of each subclass (int for IntParam), not of this base
        return self.to_scale(self.low), self.to_scale(self.high)  # type: ignore[attr-defined]


class LogUniform(_Numeric):
    """``10**uniform(log10(low), log10(high))``: learning rates, regularization."""

    type: Literal["log_uniform"] = "log_uniform"
    low: Finite
    high: Finite

    @model_validator(mode="after")
    def _check(self) -> LogUniform:
        if self.low <= 0:
            raise ValueError(
                f"log_uniform needs low > 0 (got low={self.low}); a log range cannot touch 0. "
                "Give values, not exponents: 1e-6, not -6"
            )
        _check_order(self.low, self.high)
        return self

    @property
    def is_log(self) -> bool:
        return True

    def from_unit(self, u: float) -> float:
        lo, hi = self.scale_bounds()
        return min(max(10.0 ** (lo + u * (hi - lo)), self.low), self.high)

    def contains(self, value: Any) -> bool:
        return _is_number(value) and self.low <= value <= self.high


class Uniform(_Numeric):
    """Uniform on a linear scale: dropout, momentum."""

    type: Literal["uniform"] = "uniform"
    low: Finite
    high: Finite

    @model_validator(mode="after")
    def _check(self) -> Uniform:
        _check_order(self.low, self.high)
        if not math.isfinite(self.high - self.low):
            raise ValueError(f"range [{self.low:g}, {self.high:g}] is wider than a float holds")
        return self

    @property
    def is_log(self) -> bool:
        return False

    def from_unit(self, u: float) -> float:
        return min(max(self.low + u * (self.high - self.low), self.low), self.high)

    def contains(self, value: Any) -> bool:
        return _is_number(value) and self.low <= value <= self.high


class IntParam(_Numeric):
    """Integers in ``[low, high]``, optionally log-spaced (hidden sizes)."""

    type: Literal["int"] = "int"
    low: ExactInt
    high: ExactInt
    log: bool = False

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        if self.log and self.low < 1:
            raise ValueError(f"int with log: true needs low >= 1 (got low={self.low})")
        _check_order(self.low, self.high)
        return self

    @property
    def is_log(self) -> bool:
        return self.log

    def from_unit(self, u: float) -> int:
        # Widen by half a step on each side so both end points are as likely as the rest.
        lo = self.to_scale(self.low - 0.5 if not self.log else max(self.low - 0.5, 0.5))
        hi = self.to_scale(self.high + 0.5)
        value = round(self.from_scale(lo + u * (hi - lo)))
        return min(max(value, self.low), self.high)

    def contains(self, value: Any) -> bool:
        return (
            _is_number(value)
            and float(value).is_integer()
            and self.low <= value <= self.high
        )


class Choice(_Param):
    """One of a list of values (activation, optimizer)."""

    type: Literal["choice"] = "choice"
    values: list[Scalar]

    @model_validator(mode="after")
    def _check(self) -> Choice:
        if not self.values:
            raise ValueError("choice needs at least one value")
        seen: list[Any] = []
        for v in self.values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"choice values must be finite (got {v})")
            if any(_same(v, s) for s in seen):
                raise ValueError(f"choice values must be unique ({v!r} appears twice)")
            seen.append(v)
        return self

    def from_unit(self, u: float) -> Scalar:
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]

    def contains(self, value: Any) -> bool:
        return any(_same(value, v) for v in self.values)


class Fixed(_Param):
    """A constant: recorded with every trial, never sampled."""

    type: Literal["fixed"] = "fixed"
    value: Scalar | list[Scalar] | None

    @model_validator(mode="after")
    def _check(self) -> Fixed:
        if isinstance(self.value, float) and not math.isfinite(self.value):
            raise ValueError(f"fixed value must be finite (got {self.value})")
        return self

    def contains(self, value: Any) -> bool:
        return _same(value, self.value)


Param = Annotated[
    LogUniform | Uniform | IntParam | Choice | Fixed, Field(discriminator="type")
]
NumericParam = LogUniform | Uniform | IntParam


class SearchSpace(RootModel[dict[str, Param]]):
    """A mapping of parameter name to distribution, validated as a whole."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "learning_rate": {"type": "log_uniform", "low": 1e-6, "high": 1e-1},
                    "reg": {"type": "log_uniform", "low": 1e-5, "high": 1.0},
                    "hidden_size": {"type": "int", "low": 16, "high": 512, "log": True},
                    "activation": {"type": "choice", "values": ["relu", "tanh"]},
                }
            ]
        }
    )

    @model_validator(mode="after")
    def _check(self) -> SearchSpace:
        if not self.root:
            raise ValueError("a search space needs at least one parameter")
        if len(self.root) > MAX_PARAMS:
            raise ValueError(f"at most {MAX_PARAMS} parameters (got {len(self.root)})")
        for name in self.root:
            if not NAME_PATTERN.match(name):
                raise ValueError(
                    f"parameter name {name!r} must be an identifier "
                    "(letters, digits, underscore; at most 64 characters)"
                )
        return self

    @property
    def params(self) -> dict[str, Param]:
        return self.root

    def sampled_names(self) -> list[str]:
        """Parameters that take a dimension of the unit cube (everything but fixed)."""
        return [n for n, p in self.root.items() if not isinstance(p, Fixed)]

    def from_unit(self, point: list[float]) -> dict[str, Any]:
        """Map one point of the unit cube (one coordinate per sampled name) to params."""
        names = self.sampled_names()
        if len(point) != len(names):
            raise ValueError(f"point has {len(point)} coordinates, space needs {len(names)}")
        coords = dict(zip(names, point, strict=True))
        return {
            name: p.value if isinstance(p, Fixed) else p.from_unit(coords[name])
            for name, p in self.root.items()
        }

    def check_params(self, params: dict[str, Any]) -> list[str]:
        """Problems with user-given params: missing, unknown or out-of-range names."""
        problems = [f"{n}: missing" for n in self.root if n not in params]
        problems += [f"{n}: not in the search space" for n in params if n not in self.root]
        for name, value in params.items():
            p = self.root.get(name)
            if p is not None and not p.contains(value):
                problems.append(f"{name}: {value!r} is outside {describe(p)}")
        return problems

    def warnings(self) -> list[str]:
        """Suspicious but legal choices, such as a wide linear range on a positive scale."""
        out = []
        for name, p in self.root.items():
            if isinstance(p, Uniform) and p.low > 0 and p.high / p.low > UNIFORM_SPAN_WARNING:
                out.append(
                    f"{name}: uniform range [{p.low:g}, {p.high:g}] spans "
                    f"{math.log10(p.high / p.low):.1f} orders of magnitude; "
                    "did you mean log_uniform?"
                )
        return out


def describe(p: Param) -> str:
    """Human form of a parameter's range, e.g. ``log [1e-06, 0.1]``."""
    if isinstance(p, Choice):
        return "{" + ", ".join(map(repr, p.values)) + "}"
    if isinstance(p, Fixed):
        return f"fixed {p.value!r}"
    prefix = "log " if p.is_log else ""
    return f"{prefix}[{p.low:g}, {p.high:g}]"


def _check_order(low: float, high: float) -> None:
    if not low < high:
        raise ValueError(f"low must be < high (got low={low:g}, high={high:g})")


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def same_value(a: Any, b: Any) -> bool:
    """Whether two parameter values are equal the way choices compare them."""
    return _same(a, b)


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps True apart from 1 and 'x' apart from 'X'."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b
