"""Ranked trials: per study or across studies, with stable tie-breaking and a total."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.models import Study, Trial


@dataclass(frozen=True)
class LeaderboardQuery:
    study_id: int | None = None
    stage: int | None = None
    state: str | None = None
    dataset: str | None = None
    limit: int = 50
    offset: int = 0


def _filtered(q: LeaderboardQuery, query: Select) -> Select:  # type: ignore[type-arg]
    if q.study_id is not None:
        query = query.where(Trial.study_id == q.study_id)
    if q.stage is not None:
        query = query.where(Trial.stage_index == q.stage)
    if q.state is not None:
        query = query.where(Trial.state == q.state)
    else:
        query = query.where(Trial.rank_key.is_not(None))
    if q.dataset is not None:
        query = query.where(Study.dataset == q.dataset)
    return query


def leaderboard(session: Session, q: LeaderboardQuery) -> tuple[int, list[tuple[Trial, str]]]:
    """Trials best first (the ones without an objective last), ties by trial id."""
    base = select(Trial, Study.name).join(Study, Study.id == Trial.study_id)
    rows = session.execute(
        _filtered(q, base)
        .order_by(Trial.rank_key.asc().nulls_last(), Trial.id)
        .limit(q.limit)
        .offset(q.offset)
    ).all()
    count = select(func.count()).select_from(Trial)
    if q.dataset is not None:
        count = count.join(Study, Study.id == Trial.study_id)
    total = session.scalar(_filtered(q, count)) or 0
    return total, [(r[0], r[1]) for r in rows]
