"""Compact columnar trial data for the web page's scatter plots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.params import Id
from app.deps import CanRead, DbDep
from app.services.points import study_points

router = APIRouter(tags=["studies"])


class StudyPoints(BaseModel):
    """Parallel arrays: element i of every list (and of every ``params`` list) is one trial."""

    trial_id: list[int]
    number: list[int]
    stage: list[int]
    state: list[str]
    objective: list[float | None]
    params: dict[str, list[Any]] = Field(description="Parameter name -> value per trial")


@router.get("/studies/{study_id}/points", dependencies=[CanRead])
def points(study_id: Id, db: DbDep) -> StudyPoints:
    """Every trial of the study as columns: cheap to send and plot for 10,000 trials."""
    with db.read() as session:
        return StudyPoints(**study_points(session, study_id))
