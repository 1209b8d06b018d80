"""Parameter importance of a study, whole and per stage, from its completed trials."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analysis.importance import METHOD, MIN_TRIALS, Importance, encode, importance
from app.models import Stage, Trial
from app.services.points import decoded, param_columns
from app.services.studies import get_study

CACHE_SIZE = 32
_cache: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def _kinds(session: Session, study_id: int) -> dict[str, tuple[str, bool]]:
    """Each searched parameter: (type, log scale), from the first stage that has it."""
    out: dict[str, tuple[str, bool]] = {}
    for space in session.scalars(
        select(Stage.space).where(Stage.study_id == study_id).order_by(Stage.index)
    ):
        for name, p in space.items():
            if p["type"] != "fixed":
                out.setdefault(name, (p["type"], p["type"] == "log_uniform" or
                                      bool(p.get("log"))))
    return out


def _as_dict(result: Importance) -> dict[str, Any]:
    return {"trials": result.trials, "importances": result.importances, "r2": result.r2,
            "note": result.note}


def study_importance(session: Session, study_id: int) -> dict[str, Any]:
    """Importance over the whole study and per stage; cached until a trial completes."""
    get_study(session, study_id)
    done = (Trial.study_id == study_id, Trial.state == "completed")
    count, last = session.execute(select(func.count(), func.max(Trial.finished_at))
                                  .where(*done)).one()
    kinds = _kinds(session, study_id)
    key = (str(session.get_bind().engine.url), study_id, count, last, tuple(kinds))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    dialect = session.get_bind().dialect.name
    types = {name: kind for name, (kind, _) in kinds.items()}
    rows = session.connection().execute(
        select(Trial.stage_index, Trial.objective, *param_columns(types, dialect))
        .where(*done).order_by(Trial.id)
    ).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * (2 + len(types))
    stage = np.array(columns[0], dtype=int)
    objective = np.array([np.nan if v is None else v for v in columns[1]], dtype=float)
    values = decoded(columns, types, dialect, 2)
    encoded = {name: encode(values[name], kind, log) for name, (kind, log) in kinds.items()}
    stages = sorted(set(stage.tolist()))
    out = {
        "method": METHOD,
        "min_trials": MIN_TRIALS,
        "whole": _as_dict(importance(encoded, objective)),
        "stages": [
            {"stage": s, **_as_dict(importance({k: c[stage == s] for k, c in encoded.items()},
                                               objective[stage == s]))}
            for s in stages
        ],
    }
    with _lock:
        _cache[key] = out
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return out
