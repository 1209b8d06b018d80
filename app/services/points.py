"""A study's trials as columns (one array per field), for plotting thousands of points.

Reads are incremental: a reply carries a ``cursor`` (the server's clock when it read); a
later read ``since`` that cursor returns only the trials that finished from
``OVERLAP_S`` seconds before it on, plus every queued or running trial. The overlap covers
finishes whose transaction committed after the read that set the cursor, and small clock
differences between server processes; the page merges rows by trial id, so a row sent twice
does no harm. Finished trials never change again, so nothing is missed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from app.models import Stage, Trial, TrialReport
from app.search.trials import STALL_PREFIX
from app.services.studies import get_study

NUMERIC_TYPES = ("log_uniform", "uniform", "int")
UNFINISHED = ("queued", "running")
OVERLAP_S = 30.0
FIELDS = ("trial_id", "stage", "state", "objective", "finished_ms")


def param_types(session: Session, study_id: int) -> dict[str, str]:
    """Each parameter of any stage's space (in the order the study first lists it) and its
    type in the first stage that has it."""
    types: dict[str, str] = {}
    for space in session.scalars(
        select(Stage.space).where(Stage.study_id == study_id).order_by(Stage.index)
    ):
        for name, p in space.items():
            types.setdefault(name, p["type"])
    return types


def json_value(column: Any, key: str, dialect: str) -> ColumnElement[Any]:
    """``column[key]`` as its JSON text on SQLite (whose JSON functions turn true and false
    into 1 and 0) and as the JSON value on PostgreSQL; ``decode`` the rows with
    ``decoder(dialect)``."""
    if dialect == "sqlite":
        return column.op("->", return_type=String)(f'$."{key}"')
    return column[key]


def decoder(dialect: str) -> Callable[[Any], Any]:
    """Turns what ``json_value`` read into the parameter's value."""
    if dialect == "sqlite":
        return lambda text: None if text is None else json.loads(text)
    return lambda value: value


def param_columns(types: dict[str, str], dialect: str) -> list[Any]:
    """One select column per parameter: numeric ones as the database's number (one JSON
    call per row on SQLite), anything else as JSON values."""
    return [
        (func.json_extract(Trial.params, f'$."{name}"') if kind in NUMERIC_TYPES
         and dialect == "sqlite" else json_value(Trial.params, name, dialect)).label(f"p{i}")
        for i, (name, kind) in enumerate(types.items())
    ]


def _number(v: Any) -> float | int | None:
    return v if type(v) in (int, float) else None


def decoded(columns: list[tuple[Any, ...]], types: dict[str, str], dialect: str,
            first: int) -> dict[str, list[Any]]:
    """Parameter name -> values, from the columns read with ``param_columns`` (at
    ``first`` on): numeric parameters as numbers or None, others decoded."""
    decode = decoder(dialect)
    return {name: [_number(v) for v in columns[first + i]] if kind in NUMERIC_TYPES
            else [decode(v) for v in columns[first + i]]
            for i, (name, kind) in enumerate(types.items())}


def study_points(session: Session, study_id: int, since: float | None = None) -> dict[str, Any]:
    """Trial id, stage, state, objective, finish time (Unix ms) and every parameter, column by
    column, ordered by trial id (a parameter a trial lacks is None), and the ids of the
    aborted trials that stalled at chance rather than diverged. With ``since`` (a
    cursor from an earlier reply) only what may have changed after it (see the module).

    Numeric parameters are read as floats by the database, so no row's JSON is parsed here.
    """
    cursor = time.time()
    get_study(session, study_id)
    types = param_types(session, study_id)
    dialect = session.get_bind().dialect.name
    params = param_columns(types, dialect)
    stall = and_(Trial.state == "aborted", Trial.reason.like(f"{STALL_PREFIX}%"))
    query = (
        select(Trial.id, Trial.stage_index, Trial.state, Trial.objective,
               cast(Trial.finished_at * 1000, BigInteger), case((stall, 1), else_=0), *params)
        .where(Trial.study_id == study_id)
        .order_by(Trial.id)
    )
    if since is not None:
        query = query.where(or_(Trial.finished_at >= since - OVERLAP_S,
                                Trial.state.in_(UNFINISHED)))
    rows = session.connection().execute(query).all()
    width = len(FIELDS)
    columns = list(zip(*rows, strict=True)) if rows else [()] * (width + 1 + len(params))
    out: dict[str, Any] = {field: list(columns[i]) for i, field in enumerate(FIELDS)}
    out["stalled"] = [t for t, s in zip(columns[0], columns[width], strict=True) if s]
    out["params"] = decoded(columns, types, dialect, width + 1)
    out["cursor"] = cursor
    out["full"] = since is None
    return out


def study_curves(session: Session, study_id: int, since: float | None = None) -> dict[str, Any]:
    """Every per-epoch objective the study's trials reported, as columns (trial id, step,
    value) ordered by trial and step; with ``since``, only reports from ``OVERLAP_S``
    seconds before that cursor on (reports never change once stored)."""
    cursor = time.time()
    get_study(session, study_id)
    stages = select(Stage.id).where(Stage.study_id == study_id).scalar_subquery()
    query = (
        select(TrialReport.trial_id, TrialReport.step, TrialReport.objective)
        .where(TrialReport.stage_id.in_(stages))
        .order_by(TrialReport.trial_id, TrialReport.step)
    )
    if since is not None:
        query = query.where(TrialReport.created_at >= since - OVERLAP_S)
    rows = session.connection().execute(query).all()
    columns = list(zip(*rows, strict=True)) if rows else [(), (), ()]
    return {"trial_id": list(columns[0]), "step": list(columns[1]),
            "value": list(columns[2]), "cursor": cursor, "full": since is None}
