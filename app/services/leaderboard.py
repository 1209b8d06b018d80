"""Ranked trials: per study or across studies, with stable tie-breaking and a total.

By default trials come best first (the ones without an objective last), ties by trial id.
``sort`` orders by another key instead: a column (``rank``, ``objective``, ``number``,
``trial_id``, ``stage``, ``state``, ``epochs_run``) or a JSON field (``params.NAME``,
``metrics.NAME``). JSON fields sort numbers first (by value), then other values (by their
text), then missing ones; ties fall back to the default order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.models import Study, Trial

SORT_COLUMNS: dict[str, Any] = {
    "rank": Trial.rank_key,
    "objective": Trial.objective,
    "number": Trial.number,
    "trial_id": Trial.id,
    "stage": Trial.stage_index,
    "state": Trial.state,
    "epochs_run": Trial.steps,
}
JSON_SORT = re.compile(r"(params|metrics)\.([A-Za-z_][A-Za-z0-9_]{0,99})")

AnySelect = TypeVar("AnySelect", bound=Select)  # a SELECT of any row shape


@dataclass(frozen=True)
class LeaderboardQuery:
    study_id: int | None = None
    stage: int | None = None
    state: str | None = None
    dataset: str | None = None
    limit: int = 50
    offset: int = 0
    sort: str | None = None
    descending: bool = False


def check_sort(sort: str) -> None:
    """Refuse a sort key this module cannot order by (422 naming ``sort``)."""
    if sort not in SORT_COLUMNS and not JSON_SORT.fullmatch(sort):
        raise Invalid(
            f"sort: unknown key {sort!r}; use one of {', '.join(SORT_COLUMNS)}, "
            "params.NAME or metrics.NAME",
            field="sort",
            location="query",
        )


def json_number(column: Any, key: str, dialect: str) -> ColumnElement[Any]:
    """``column[key]`` as a float when it is a JSON number, else NULL (on both databases)."""
    if dialect == "postgresql":
        is_number = func.json_typeof(column[key]) == "number"
    else:
        is_number = func.json_type(column, f'$."{key}"').in_(("integer", "real"))
    return case((is_number, column[key].as_float()), else_=None)


def _order(q: LeaderboardQuery, dialect: str) -> list[Any]:
    default = [Trial.rank_key.asc().nulls_last(), Trial.id]
    if q.sort is None:
        return default
    check_sort(q.sort)

    def directed(expr: Any) -> Any:
        return (expr.desc() if q.descending else expr.asc()).nulls_last()

    if q.sort in SORT_COLUMNS:
        return [directed(SORT_COLUMNS[q.sort]), *default]
    field, key = q.sort.split(".", 1)
    column = Trial.params if field == "params" else Trial.metrics
    return [directed(json_number(column, key, dialect)), directed(column[key].as_string()),
            *default]


def _filtered(q: LeaderboardQuery, query: AnySelect) -> AnySelect:
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


def rank_in_study(session: Session, trial: Trial) -> int:
    """The trial's rank in its study's default leaderboard order (1 = best)."""
    key = trial.rank_key
    if key is None:
        ahead = Trial.rank_key.is_not(None) | (Trial.id < trial.id)
    else:
        ahead = (Trial.rank_key < key) | ((Trial.rank_key == key) & (Trial.id < trial.id))
    count = select(func.count()).where(Trial.study_id == trial.study_id, ahead)
    return int(session.scalar(count) or 0) + 1


class RankedBy(NamedTuple):
    """The study a leaderboard row belongs to, and the objective it is ranked by."""

    name: str
    metric: str
    maximize: bool


def leaderboard(
    session: Session, q: LeaderboardQuery
) -> tuple[int, list[tuple[Trial, RankedBy]]]:
    """One page of trials in ``q``'s order, and how many match its filters."""
    base = select(Trial, Study.name, Study.metric, Study.maximize).join(
        Study, Study.id == Trial.study_id
    )
    rows = session.execute(
        _filtered(q, base)
        .order_by(*_order(q, session.get_bind().dialect.name))
        .limit(q.limit)
        .offset(q.offset)
    ).all()
    if len(rows) < q.limit and (rows or q.offset == 0):
        # A short page is the end of the listing, so it gives the exact total: no count.
        return q.offset + len(rows), [(r[0], RankedBy(*r[1:])) for r in rows]
    count = select(func.count()).select_from(Trial)
    if q.dataset is not None:
        count = count.join(Study, Study.id == Trial.study_id)
    total = session.scalar(_filtered(q, count)) or 0
    return total, [(r[0], RankedBy(*r[1:])) for r in rows]
