"""Studies: create, list, inspect, change state, enqueue trials, refine, warnings."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api import convert
from app.api.params import CONFLICT, Id, Limit, Offset
from app.db import Database
from app.deps import CanRead, CanSubmit, DbDep, SettingsDep
from app.schemas import (
    EnqueueRequest,
    RefineRequest,
    StageOut,
    StudyDetail,
    StudyList,
    StudySpec,
    WarningOut,
)
from app.search.space import SearchSpace
from app.services import stages as stage_service
from app.services import studies
from app.services.confirmation import study_pick

router = APIRouter(prefix="/studies", tags=["studies"])


def _detail(db: Database, study_id: int) -> StudyDetail:
    with db.read() as session:
        study = studies.get_study(session, study_id)
        ids = [study.id]
        summary = convert.study_summary(
            study,
            studies.state_counts(session, ids).get(study.id, {}),
            studies.best_objectives(session, ids).get(study.id),
            studies.warning_counts(session, ids).get(study.id, 0),
        )
        stages = [convert.stage_out(*row) for row in studies.stages_of(session, study_id)]
        warnings = [convert.warning_out(w) for w in studies.warnings_of(session, study_id)]
        space = SearchSpace.model_validate(study.spec["space"])
        picked = study_pick(session, study)
        return StudyDetail(
            **summary.model_dump(),
            pick=convert.pick_out(picked) if picked else None,
            spec=study.spec,
            stages=stages,
            warning_list=warnings,
            space_warnings=space.warnings(),
        )


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[CanSubmit])
def create_study(spec: StudySpec, db: DbDep, settings: SettingsDep) -> StudyDetail:
    """Create a study: its first stage is sampled and queued at once."""
    with db.write() as session:
        study = studies.create_study(session, spec, max_attempts=settings.max_attempts)
        study_id = study.id
    return _detail(db, study_id)


@router.get("", dependencies=[CanRead])
def list_studies(
    db: DbDep,
    settings: SettingsDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> StudyList:
    with db.read() as session:
        total, rows = studies.list_studies(
            session, limit=min(limit, settings.max_page), offset=offset
        )
        ids = [s.id for s in rows]
        counts = studies.state_counts(session, ids)
        best = studies.best_objectives(session, ids)
        warns = studies.warning_counts(session, ids)
        items = [
            convert.study_summary(s, counts.get(s.id, {}), best.get(s.id), warns.get(s.id, 0))
            for s in rows
        ]
    return StudyList(total=total, items=items)


@router.get("/{study_id}", dependencies=[CanRead])
def get_study(study_id: Id, db: DbDep) -> StudyDetail:
    """A study with its counts per state and per stage, stages with ranges, and warnings."""
    return _detail(db, study_id)


def _change(db: Database, study_id: int, action: str) -> StudyDetail:
    with db.write() as session:
        studies.set_state(session, study_id, action)
    return _detail(db, study_id)


@router.post("/{study_id}/pause", dependencies=[CanSubmit], responses=CONFLICT)
def pause(study_id: Id, db: DbDep) -> StudyDetail:
    """Stop handing out the study's trials; running ones finish."""
    return _change(db, study_id, "pause")


@router.post("/{study_id}/resume", dependencies=[CanSubmit], responses=CONFLICT)
def resume(study_id: Id, db: DbDep) -> StudyDetail:
    return _change(db, study_id, "resume")


@router.post("/{study_id}/cancel", dependencies=[CanSubmit], responses=CONFLICT)
def cancel(study_id: Id, db: DbDep) -> StudyDetail:
    """End the study: queued and running trials fail as cancelled; finished ones stay."""
    return _change(db, study_id, "cancel")


@router.post(
    "/{study_id}/trials",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanSubmit],
    responses=CONFLICT,
)
def enqueue(study_id: Id, body: EnqueueRequest, db: DbDep) -> dict[str, list[int]]:
    """Queue trials with given params (checked against the current stage's space), or
    record results trained elsewhere."""
    with db.write() as session:
        numbers = studies.enqueue(session, study_id, body.trials)
    return {"numbers": numbers}


@router.post(
    "/{study_id}/refine",
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanSubmit],
    responses=CONFLICT,
)
def refine(study_id: Id, body: RefineRequest, db: DbDep) -> StageOut:
    """Close the current stage and open the next, refined around its best trials."""
    with db.write() as session:
        stage = stage_service.refine_now(
            session, study_id, policy=body.policy, trials=body.trials, epochs=body.epochs,
            budget=body.budget,
        )
        return convert.stage_out(stage, {"queued": stage.n_trials}, 0)


@router.get("/{study_id}/warnings", dependencies=[CanRead])
def warnings(study_id: Id, db: DbDep) -> list[WarningOut]:
    with db.read() as session:
        return [convert.warning_out(w) for w in studies.warnings_of(session, study_id)]
