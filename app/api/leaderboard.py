"""Leaderboards: one study's, or across studies."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from app.api import convert
from app.api.params import Id, Limit, Offset, StageIndex, StudyFilter
from app.db import Database
from app.deps import CanRead, DbDep, SettingsDep
from app.schemas import Leaderboard, TrialState
from app.services import studies
from app.services.confirmation import confirmation
from app.services.leaderboard import LeaderboardQuery, leaderboard

router = APIRouter(tags=["leaderboard"])
SORT_HELP = (
    "Order by rank (default), objective, number, trial_id, stage, state, epochs_run, "
    "params.NAME or metrics.NAME"
)
Order = Literal["asc", "desc"]


def _board(
    db: Database, q: LeaderboardQuery, metric: str | None, direction: str | None
) -> Leaderboard:
    with db.read() as session:
        total, rows = leaderboard(session, q)
        confirmations = {
            sid: confirmation(session, studies.get_study(session, sid))
            for sid in {t.study_id for t, _ in rows}
        }
        return Leaderboard(
            total=total,
            limit=q.limit,
            offset=q.offset,
            metric=metric,
            direction=direction,
            rows=[
                convert.leaderboard_row(q.offset + i + 1, t, study, confirmations[t.study_id])
                for i, (t, study) in enumerate(rows)
            ],
        )


@router.get("/studies/{study_id}/leaderboard", dependencies=[CanRead])
def study_leaderboard(
    study_id: Id,
    db: DbDep,
    settings: SettingsDep,
    limit: Limit = 50,
    offset: Offset = 0,
    stage: StageIndex = None,
    state: TrialState | None = None,
    sort: str | None = Query(None, description=SORT_HELP),
    order: Order = "asc",
) -> Leaderboard:
    """Trials ranked by the study's objective (or ``sort``); without ``state``, those that
    have an objective. ``rank`` is the row's position in the listing."""
    with db.read() as session:
        study = studies.get_study(session, study_id)
        metric, direction = study.metric, "maximize" if study.maximize else "minimize"
    q = LeaderboardQuery(
        study_id=study_id, stage=stage, state=state,
        limit=min(limit, settings.max_page), offset=offset,
        sort=sort, descending=order == "desc",
    )
    return _board(db, q, metric, direction)


@router.get("/leaderboard", dependencies=[CanRead])
def global_leaderboard(
    db: DbDep,
    settings: SettingsDep,
    limit: Limit = 50,
    offset: Offset = 0,
    study: StudyFilter = None,
    dataset: str | None = None,
    state: TrialState | None = None,
    sort: str | None = Query(None, description=SORT_HELP),
    order: Order = "asc",
) -> Leaderboard:
    """Trials across studies, each by its own study's objective (filter by dataset)."""
    q = LeaderboardQuery(
        study_id=study, dataset=dataset, state=state,
        limit=min(limit, settings.max_page), offset=offset,
        sort=sort, descending=order == "desc",
    )
    return _board(db, q, None, None)
