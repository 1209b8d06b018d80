"""Leaderboards: one study's, or across studies."""

from __future__ import annotations

from fastapi import APIRouter, Query

from app.api import convert
from app.db import Database
from app.deps import CanRead, DbDep, SettingsDep
from app.schemas import Leaderboard, TrialState
from app.services import studies
from app.services.leaderboard import LeaderboardQuery, leaderboard

router = APIRouter(tags=["leaderboard"])


def _board(
    db: Database, q: LeaderboardQuery, metric: str | None, direction: str | None
) -> Leaderboard:
    with db.read() as session:
        total, rows = leaderboard(session, q)
        return Leaderboard(
            total=total,
            limit=q.limit,
            offset=q.offset,
            metric=metric,
            direction=direction,
            rows=[
                convert.leaderboard_row(q.offset + i + 1, t, name)
                for i, (t, name) in enumerate(rows)
            ],
        )


@router.get("/studies/{study_id}/leaderboard", dependencies=[CanRead])
def study_leaderboard(
    study_id: int,
    db: DbDep,
    settings: SettingsDep,
    limit: int = Query(50, ge=1),
    offset: int = Query(0, ge=0),
    stage: int | None = Query(None, ge=0),
    state: TrialState | None = None,
) -> Leaderboard:
    """Trials ranked by the study's objective; without ``state``, those that have one."""
    with db.read() as session:
        study = studies.get_study(session, study_id)
        metric, direction = study.metric, "maximize" if study.maximize else "minimize"
    q = LeaderboardQuery(
        study_id=study_id, stage=stage, state=state,
        limit=min(limit, settings.max_page), offset=offset,
    )
    return _board(db, q, metric, direction)


@router.get("/leaderboard", dependencies=[CanRead])
def global_leaderboard(
    db: DbDep,
    settings: SettingsDep,
    limit: int = Query(50, ge=1),
    offset: int = Query(0, ge=0),
    study: int | None = None,
    dataset: str | None = None,
    state: TrialState | None = None,
) -> Leaderboard:
    """Trials across studies, each by its own study's objective (filter by dataset)."""
    q = LeaderboardQuery(
        study_id=study, dataset=dataset, state=state,
        limit=min(limit, settings.max_page), offset=offset,
    )
    return _board(db, q, None, None)
