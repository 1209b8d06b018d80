"""Studies: create (with their first stage), list, inspect, pause, resume, cancel, enqueue."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid, NotFound
from app.models import Stage, Study, StudyWarning, Trial
from app.schemas import EnqueueItem, StudySpec
from app.search.space import SearchSpace
from app.services import stages as stage_service
from app.services.trials import objective_of, rank_key

TRANSITIONS = {
    "pause": ({"running"}, "paused"),
    "resume": ({"paused"}, "running"),
    "cancel": ({"running", "paused", "completed"}, "cancelled"),
}


def create_study(session: Session, spec: StudySpec, *, max_attempts: int) -> Study:
    """Store the study, open stage 0 and queue its trials."""
    now = time.time()
    study = Study(
        name=spec.name,
        state="running",
        metric=spec.objective.metric,
        maximize=spec.objective.direction == "maximize",
        dataset=spec.task.dataset,
        spec=spec.model_dump(mode="json"),
        seed=spec.seed,
        max_attempts=spec.max_attempts or max_attempts,
        current_stage=0,
        next_number=0,
        created_at=now,
        updated_at=now,
    )
    session.add(study)
    session.flush()
    first = spec.plan[0]
    assert first.epochs is not None  # only a confirm stage may omit it, never the first
    stage_service.open_stage(
        session,
        study,
        index=0,
        space=spec.space,
        trials=first.trials,
        budget=first.budget,
        epochs=first.epochs,
        sampler=first.sampler or spec.sampler,
        pruning=first.pruning,
    )
    warnings = spec.space.warnings()
    for message in warnings:
        session.add(
            StudyWarning(
                study_id=study.id, stage_index=0, kind="space", param=message.split(":")[0],
                side=None, message=message, details={}, created_at=now,
            )
        )
    return study


def get_study(session: Session, study_id: int) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        raise NotFound(f"study {study_id} not found")
    return study


def set_state(session: Session, study_id: int, action: str) -> Study:
    """Pause, resume or cancel. Cancel keeps finished trials and ends the queued ones."""
    study = session.get(Study, study_id, with_for_update=True)
    if study is None:
        raise NotFound(f"study {study_id} not found")
    allowed, target = TRANSITIONS[action]
    if study.state not in allowed:
        raise Conflict(f"cannot {action} study {study_id}: it is {study.state}")
    study.state = target
    study.state_reason = None
    study.updated_at = time.time()
    if action == "cancel":
        session.execute(
            update(Trial)
            .where(Trial.study_id == study_id, Trial.state.in_(("queued", "running")))
            .values(
                state="failed",
                reason="study cancelled",
                finished_at=time.time(),
                lease_expires_at=None,
            )
        )
    return study


def list_studies(session: Session, *, limit: int, offset: int) -> tuple[int, list[Study]]:
    total = session.scalar(select(func.count()).select_from(Study)) or 0
    studies = session.scalars(
        select(Study).order_by(Study.id.desc()).limit(limit).offset(offset)
    ).all()
    return total, list(studies)


def state_counts(session: Session, study_ids: list[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if study_ids:
        rows = session.execute(
            select(Trial.study_id, Trial.state, func.count())
            .where(Trial.study_id.in_(study_ids))
            .group_by(Trial.study_id, Trial.state)
        )
        for study_id, state, n in rows:
            counts[study_id][state] = n
    return counts


def best_objectives(session: Session, study_ids: list[int]) -> dict[int, float]:
    """Each study's best objective (the smallest rank key, turned back)."""
    if not study_ids:
        return {}
    rows = session.execute(
        select(Trial.study_id, func.min(Trial.rank_key))
        .where(Trial.study_id.in_(study_ids), Trial.rank_key.is_not(None))
        .group_by(Trial.study_id)
    )
    maximize = dict(
        session.execute(select(Study.id, Study.maximize).where(Study.id.in_(study_ids))).all()
    )
    return {sid: (-key if maximize[sid] else key) for sid, key in rows if key is not None}


def warning_counts(session: Session, study_ids: list[int]) -> dict[int, int]:
    if not study_ids:
        return {}
    rows = session.execute(
        select(StudyWarning.study_id, func.count())
        .where(StudyWarning.study_id.in_(study_ids))
        .group_by(StudyWarning.study_id)
    )
    return dict(rows.all())


def stages_of(session: Session, study_id: int) -> list[tuple[Stage, dict[str, int], int]]:
    """Each stage with its trial counts per state and the epochs its trials trained."""
    stages = session.scalars(
        select(Stage).where(Stage.study_id == study_id).order_by(Stage.index)
    ).all()
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    spent: dict[int, int] = defaultdict(int)
    for stage_id, state, n, steps in session.execute(
        select(Trial.stage_id, Trial.state, func.count(), func.coalesce(func.sum(Trial.steps), 0))
        .where(Trial.study_id == study_id)
        .group_by(Trial.stage_id, Trial.state)
    ):
        counts[stage_id][state] = n
        spent[stage_id] += int(steps)
    return [(s, counts[s.id], spent[s.id]) for s in stages]


def warnings_of(session: Session, study_id: int) -> list[StudyWarning]:
    get_study(session, study_id)
    return list(
        session.scalars(
            select(StudyWarning)
            .where(StudyWarning.study_id == study_id)
            .order_by(StudyWarning.id)
        )
    )


def enqueue(session: Session, study_id: int, items: list[EnqueueItem]) -> list[int]:
    """Queue trials with given params, or record externally trained results."""
    study, stage = stage_service.lock_current_stage(session, study_id)
    space = SearchSpace.model_validate(stage.space)
    for i, item in enumerate(items):
        problems = space.check_params(item.params)
        if problems:
            raise Invalid(f"trials.{i}.params: " + "; ".join(problems), field=f"trials.{i}.params")
    results = [_external_result(study, item) for item in items]
    numbers = stage_service.add_trials(
        session, study, stage, [item.params for item in items],
        origin="external" if all(results) else "enqueued", results=results,
    )
    if stage.state == "done" and any(r is None for r in results):
        stage.state = "open"
        stage.closed_at = None
        if study.state == "completed":
            study.state = "running"
    study.updated_at = time.time()
    return numbers


def _external_result(study: Study, item: EnqueueItem) -> dict[str, Any] | None:
    if item.result is None:
        return None
    objective = objective_of(item.result.metrics, study.metric)
    now = time.time()
    return {
        "state": item.result.state,
        "origin": "external",
        "metrics": item.result.metrics,
        "objective": objective,
        "rank_key": rank_key(objective, study.maximize),
        "reason": item.result.reason,
        "started_at": now,
        "finished_at": now,
    }
