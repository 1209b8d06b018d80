"""Bounded wire types: integers that fit their database columns, and JSON payloads a
database can store (pydantic only, so the pure cores may use them too)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)
INT64_MAX = 2**63 - 1
EXACT_FLOAT_INT = 2**53
MAX_JSON_DEPTH = 32

# An integer column (INTEGER on PostgreSQL): booleans and floats are refused. A field
# with a narrower range is a pydantic ``StrictInt`` with its own ``Field(ge=..., le=...)``
# (a Field given as default replaces the constraints of an Annotated type).
Int32 = Annotated[int, Strict(), Field(ge=INT32_MIN, le=INT32_MAX)]
# An integer of a JSON value the server compares or sorts: 64 bits at most.
Int64 = Annotated[int, Strict(), Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
# An integer a float holds exactly: search-space bounds, which are sampled as floats.
ExactInt = Annotated[int, Strict(), Field(ge=-EXACT_FLOAT_INT, le=EXACT_FLOAT_INT)]


def check_json(value: Any, *, finite: bool = True) -> Any:
    """``value`` if every database can store it as JSON: nested at most
    ``MAX_JSON_DEPTH`` levels, integers within 64 bits and, when ``finite``, no NaN or
    infinity. Walks without recursion, so any depth is refused cheaply."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels{_at(path)}")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in pairs)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and not -INT64_MAX - 1 <= item <= INT64_MAX:
            raise ValueError(f"integer beyond 64 bits{_at(path)}")
        elif finite and isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{item} is not a finite number{_at(path)}")
    return value


def _at(path: str) -> str:
    return f" at {path}" if path else ""


def check_json_any_float(value: Any) -> Any:
    """``check_json`` letting NaN and infinity through (metrics turn them into strings)."""
    return check_json(value, finite=False)


# A JSON object of settings or parameters, bounded as ``check_json`` says.
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]
