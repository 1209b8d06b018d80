"""A study's trials as columns (one array per field), for plotting thousands of points."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Stage, Trial
from app.services.leaderboard import json_number
from app.services.studies import get_study

NUMERIC_TYPES = ("log_uniform", "uniform", "int")


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


def study_points(session: Session, study_id: int) -> dict[str, Any]:
    """Trial id, number, stage, state, objective and every parameter, column by column,
    ordered by trial id; a parameter a trial lacks is None.

    Numeric parameters are read as floats by the database, so no row's JSON is parsed here.
    """
    get_study(session, study_id)
    types = param_types(session, study_id)
    dialect = session.get_bind().dialect.name
    params = [
        (json_number(Trial.params, name, dialect) if kind in NUMERIC_TYPES
         else Trial.params[name]).label(f"p{i}")
        for i, (name, kind) in enumerate(types.items())
    ]
    rows = session.connection().execute(
        select(Trial.id, Trial.number, Trial.stage_index, Trial.state, Trial.objective, *params)
        .where(Trial.study_id == study_id)
        .order_by(Trial.id)
    ).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * (5 + len(params))
    return {
        "trial_id": list(columns[0]),
        "number": list(columns[1]),
        "stage": list(columns[2]),
        "state": list(columns[3]),
        "objective": list(columns[4]),
        "params": {name: list(columns[5 + i]) for i, name in enumerate(types)},
    }
