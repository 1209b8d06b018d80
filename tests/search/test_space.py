"""Search-space validation: bad spaces are refused with a message naming the problem."""

import math

import pytest
from pydantic import ValidationError

from app.search.space import MAX_PARAMS, SearchSpace


def parse(spec: dict) -> SearchSpace:
    return SearchSpace.model_validate(spec)


@pytest.mark.parametrize(
    ("param", "needle"),
    [
        ({"type": "uniform", "low": 1.0, "high": 1.0}, "low must be < high"),
        ({"type": "log_uniform", "low": 1e-2, "high": 1e-3}, "low must be < high"),
        ({"type": "int", "low": 5, "high": 2}, "low must be < high"),
        ({"type": "log_uniform", "low": 0.0, "high": 1.0}, "low > 0"),
        ({"type": "log_uniform", "low": -6, "high": -1}, "low > 0"),
        ({"type": "int", "low": 0, "high": 8, "log": True}, "low >= 1"),
        ({"type": "uniform", "low": math.nan, "high": 1.0}, "finite"),
        ({"type": "log_uniform", "low": 1e-3, "high": math.inf}, "finite"),
        ({"type": "choice", "values": []}, "at least one value"),
        ({"type": "choice", "values": ["relu", "tanh", "relu"]}, "unique"),
        ({"type": "choice", "values": [1.0, math.nan]}, "finite"),
        ({"type": "fixed", "value": math.inf}, "finite"),
        ({"type": "normal", "mean": 0, "std": 1}, "does not match any of the expected tags"),
        ({"type": "uniform", "low": 0, "high": 1, "step": 0.1}, "Extra inputs"),
    ],
)
def test_bad_params_are_refused(param: dict, needle: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse({"x": param})
    assert needle in str(err.value)
    assert "x" in str(err.value).splitlines()[1]  # the error names the field


def test_choice_keeps_true_apart_from_one() -> None:
    assert parse({"x": {"type": "choice", "values": [True, 1]}}).params["x"].values == [True, 1]


@pytest.mark.parametrize("name", ["1lr", "learning-rate", "a b", "", "x" * 65])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="must be an identifier"):
        parse({name: {"type": "fixed", "value": 1}})


def test_too_many_params_and_empty_space_are_refused() -> None:
    many = {f"p{i}": {"type": "fixed", "value": i} for i in range(MAX_PARAMS + 1)}
    with pytest.raises(ValidationError, match=f"at most {MAX_PARAMS}"):
        parse(many)
    many.popitem()
    assert len(parse(many).params) == MAX_PARAMS
    with pytest.raises(ValidationError, match="at least one parameter"):
        parse({})


def test_wide_positive_uniform_suggests_log_uniform() -> None:
    space = parse(
        {
            "lr": {"type": "uniform", "low": 1e-6, "high": 1e-1},
            "dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
            "momentum": {"type": "uniform", "low": 0.5, "high": 0.99},
        }
    )
    (warning,) = space.warnings()
    assert warning.startswith("lr:") and "did you mean log_uniform?" in warning
    assert "5.0 orders of magnitude" in warning


def test_check_params_names_missing_unknown_and_out_of_range() -> None:
    space = parse(
        {
            "lr": {"type": "log_uniform", "low": 1e-5, "high": 1e-1},
            "hidden": {"type": "int", "low": 16, "high": 512, "log": True},
        }
    )
    assert space.check_params({"lr": 1e-3, "hidden": 64}) == []
    problems = space.check_params({"lr": 1.0, "hidden": 64.5, "momentum": 0.9})
    assert problems == [
        "momentum: not in the search space",
        "lr: 1.0 is outside log [1e-05, 0.1]",
        "hidden: 64.5 is outside log [16, 512]",
    ]
