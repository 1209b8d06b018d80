"""Compact columnar trial data for the web page's charts, whole or since a cursor."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app.api.params import Id
from app.deps import CanRead, DbDep
from app.errors import Invalid
from app.services.points import study_curves, study_points

router = APIRouter(tags=["studies"])


class StudyPoints(BaseModel):
    """Parallel arrays: element i of every list (and of every ``params`` list) is one trial."""

    trial_id: list[int]
    stage: list[int]
    state: list[str]
    objective: list[float | None]
    finished_ms: list[int | None] = Field(description="Unix milliseconds, None until it ends")
    stalled: list[int] = Field(description="Ids of the aborted trials that stalled at chance "
                               "(the other aborted trials diverged)")
    params: dict[str, list[Any]] = Field(description="Parameter name -> value per trial")
    cursor: float = Field(description="Pass as ``since`` to get only what changed after")
    full: bool = Field(description="Every trial (no ``since``), or only the changed ones")


class StudyCurves(BaseModel):
    """Parallel arrays, one element per report: the objective each trial reported per step."""

    trial_id: list[int]
    step: list[int]
    value: list[float | None]
    cursor: float
    full: bool


SINCE = Query(None, description="A cursor from an earlier reply: send only what may have "
              "changed after it")


def _check(since: float | None) -> None:
    if since is not None and not math.isfinite(since):
        raise Invalid("since: must be a finite cursor from an earlier reply", field="since")


def _json(data: dict[str, Any]) -> Response:
    # The columns are built from database types; skipping pydantic's pass over 100,000
    # values per column keeps the reply fast. NaN never reaches here: objectives are stored
    # finite or NULL and numeric params are checked when a trial is created.
    return Response(json.dumps(data, separators=(",", ":")), media_type="application/json")


@router.get("/studies/{study_id}/points", dependencies=[CanRead],
            response_model=StudyPoints)
def points(
    study_id: Id,
    db: DbDep,
    since: float | None = SINCE,
) -> Response:
    """Every trial of the study as columns (with ``since``: the finished since, and the
    queued and running): cheap to send and plot for 100,000 trials."""
    _check(since)
    with db.read() as session:
        return _json(study_points(session, study_id, since))


@router.get("/studies/{study_id}/curves", dependencies=[CanRead],
            response_model=StudyCurves)
def curves(study_id: Id, db: DbDep, since: float | None = SINCE) -> Response:
    """Every trial's per-step objective (intermediate values), as columns."""
    _check(since)
    with db.read() as session:
        return _json(study_curves(session, study_id, since))
