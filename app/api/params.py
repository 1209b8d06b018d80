"""Path and query parameters bounded to the integer columns they are compared with, and
the error answers a route declares itself (app.validation documents the rest)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from hpsearch.bounds import INT32_MAX, INT32_MIN

Id = Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX, description="The resource's id")]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX, description="Rows to skip")]
Limit = Annotated[int, Query(ge=1, le=INT32_MAX, description="Rows to return at most")]
StageIndex = Annotated[int | None, Query(ge=0, le=INT32_MAX, description="Only this stage")]
StudyFilter = Annotated[
    int | None, Query(ge=INT32_MIN, le=INT32_MAX, description="Only this study")
]

# A route that can refuse a change the current state forbids.
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The current state forbids it (e.g. a lost lease)"}
}
