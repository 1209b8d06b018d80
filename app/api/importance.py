"""Which parameters matter: importance over a study's completed trials."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api.params import Id
from app.deps import CanRead, DbDep
from app.services.importance import study_importance

router = APIRouter(tags=["studies"])


class ImportanceOf(BaseModel):
    """Importance over one set of trials; ``importances`` is None when there is too
    little to say, and ``note`` says why."""

    trials: int
    importances: dict[str, float] | None = Field(description="Parameter -> share, sums to 1")
    r2: float | None = Field(description="Held-out R² of the forest")
    note: str | None


class StageImportance(ImportanceOf):
    stage: int


class StudyImportance(BaseModel):
    method: str
    min_trials: int
    whole: ImportanceOf
    stages: list[StageImportance]


@router.get("/studies/{study_id}/importance", dependencies=[CanRead])
def importance(study_id: Id, db: DbDep) -> StudyImportance:
    """Parameter importance over the whole study and per stage (completed trials)."""
    with db.read() as session:
        return StudyImportance(**study_importance(session, study_id))
