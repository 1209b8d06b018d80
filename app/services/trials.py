"""Trial lifecycle under lease: claim, heartbeat, report, finish, release, expiry.

Every function is one transaction. A claim hands out a fresh lease token (a fencing
token); anything sent later with another token is refused with ``Conflict`` and changes
nothing. On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``; on SQLite the write session
opens with ``BEGIN IMMEDIATE`` so claims are serialized by the database lock.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound
from app.models import Study, Trial, TrialReport, Worker
from app.search.pruning import PruningPolicy, should_prune
from app.services import stages as stage_service
from app.services.stages import study_meta


def objective_of(metrics: dict[str, Any], metric: str) -> float | None:
    """The objective as a finite float, or None when missing or not a number."""
    value = metrics.get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def rank_key(objective: float | None, maximize: bool) -> float | None:
    """Lower ranks first, so one ascending index serves both directions."""
    if objective is None:
        return None
    return -objective if maximize else objective


def claim(
    session: Session,
    *,
    worker: str,
    studies: list[int] | None,
    lease_seconds: float,
    max_attempts: int,
) -> Trial | None:
    """Hand the oldest queued trial of a running study to ``worker``, or None."""
    trial = _claim_one(session, worker, studies, lease_seconds)
    if trial is None and expire_leases(session, max_attempts=max_attempts):
        trial = _claim_one(session, worker, studies, lease_seconds)
    return trial


def _claim_one(
    session: Session, worker: str, studies: list[int] | None, lease_seconds: float
) -> Trial | None:
    query = (
        select(Trial.id)
        .join(Study, Study.id == Trial.study_id)
        .where(Trial.state == "queued", Study.state == "running")
        .order_by(Trial.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=Trial)
    )
    if studies:
        query = query.where(Trial.study_id.in_(studies))
    trial_id = session.scalar(query)
    if trial_id is None:
        return None
    now = time.time()
    token = secrets.token_urlsafe(24)
    session.execute(
        update(Trial)
        .where(Trial.id == trial_id)
        .values(
            state="running",
            attempt=Trial.attempt + 1,
            lease_token=token,
            lease_expires_at=now + lease_seconds,
            worker_name=worker,
            started_at=now,
        )
    )
    _touch_worker(session, worker, trial_id, now)
    return session.get(Trial, trial_id, populate_existing=True)


def _touch_worker(session: Session, name: str, trial_id: int | None, now: float) -> None:
    session.execute(
        update(Worker)
        .where(Worker.name == name)
        .values(last_seen_at=now, current_trial_id=trial_id)
    )


def _check_lease(session: Session, trial_id: int, token: str) -> Trial:
    """The trial if ``token`` holds its live lease; Conflict or NotFound otherwise."""
    trial = session.get(Trial, trial_id)
    if trial is None:
        raise NotFound(f"trial {trial_id} not found")
    if trial.lease_token != token:
        raise Conflict(f"trial {trial_id}: lease token is not current (the lease was lost)")
    if trial.state != "running":
        raise Conflict(f"trial {trial_id} is {trial.state}, not running")
    return trial


def _extend(session: Session, trial_id: int, token: str, lease_seconds: float) -> float:
    """Extend the lease in one conditional update; returns the new expiry."""
    expires = time.time() + lease_seconds
    done = session.execute(
        update(Trial)
        .where(Trial.id == trial_id, Trial.lease_token == token, Trial.state == "running")
        .values(lease_expires_at=expires)
    ).rowcount
    if not done:
        _check_lease(session, trial_id, token)
    return expires


def heartbeat(session: Session, trial_id: int, *, token: str, lease_seconds: float) -> float:
    expires = _extend(session, trial_id, token, lease_seconds)
    worker = session.scalar(select(Trial.worker_name).where(Trial.id == trial_id))
    if worker:
        _touch_worker(session, worker, trial_id, time.time())
    return expires


def report(
    session: Session,
    trial_id: int,
    *,
    token: str,
    step: int,
    metrics: dict[str, Any],
    lease_seconds: float,
) -> tuple[bool, float]:
    """Store one per-step report (idempotent on step) and say whether to stop."""
    expires = _extend(session, trial_id, token, lease_seconds)
    study_id, stage_id, epochs = session.execute(
        select(Trial.study_id, Trial.stage_id, Trial.epochs).where(Trial.id == trial_id)
    ).one()
    meta = study_meta(session, study_id, stage_id)
    objective = objective_of(metrics, meta.metric)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(TrialReport)
        .values(
            trial_id=trial_id,
            stage_id=stage_id,
            step=step,
            objective=objective,
            metrics=metrics,
            created_at=time.time(),
        )
        .on_conflict_do_nothing(index_elements=["trial_id", "step"])
    )
    session.execute(
        update(Trial)
        .where(Trial.id == trial_id, Trial.steps < step)
        .values(steps=step)
    )
    stop = _should_prune(session, meta.pruning, meta.maximize, trial_id, stage_id, step,
                         objective, epochs)
    return stop, expires


def _should_prune(
    session: Session,
    policy: PruningPolicy,
    maximize: bool,
    trial_id: int,
    stage_id: int,
    step: int,
    value: float | None,
    epochs: int,
) -> bool:
    if policy.rule == "none" or value is None:
        return False
    others = session.scalars(
        select(TrialReport.objective).where(
            TrialReport.stage_id == stage_id,
            TrialReport.step == step,
            TrialReport.trial_id != trial_id,
            TrialReport.objective.is_not(None),
        )
    ).all()
    return should_prune(
        policy,
        epoch=step,
        value=value,
        others={step: list(others)},
        maximize=maximize,
        max_epochs=epochs,
    )


def finish(
    session: Session,
    trial_id: int,
    *,
    token: str,
    state: str,
    metrics: dict[str, Any],
    reason: str | None,
    failure_streak: int,
) -> Trial:
    """End a running trial; the last trial of a stage closes it and opens the next."""
    trial = session.get(Trial, trial_id)
    if trial is None:
        raise NotFound(f"trial {trial_id} not found")
    if trial.lease_token == token and trial.state == state:
        return trial  # a retried finish that already went through
    stage_service.lock_stage(session, trial.stage_id)
    trial = _check_lease(session, trial_id, token)
    meta = study_meta(session, trial.study_id, trial.stage_id)
    objective = objective_of(metrics, meta.metric)
    now = time.time()
    trial.state = state
    trial.metrics = metrics
    trial.objective = objective
    trial.rank_key = rank_key(objective, meta.maximize)
    trial.reason = reason
    trial.finished_at = now
    trial.lease_expires_at = None
    _touch_worker(session, trial.worker_name or "", None, now)
    session.flush()
    if state == "failed":
        stage_service.pause_on_failure_streak(session, trial.study_id, failure_streak)
    stage_service.close_if_done(session, trial.stage_id)
    return trial


def release(session: Session, trial_id: int, *, token: str, reason: str | None) -> Trial:
    """Give a running trial back to the queue at once (graceful worker shutdown)."""
    trial = _check_lease(session, trial_id, token)
    _requeue(session, trial, reason=reason or "released by worker", count_attempt=False)
    return trial


def _requeue(session: Session, trial: Trial, *, reason: str, count_attempt: bool) -> None:
    trial.state = "queued"
    trial.lease_token = None
    trial.lease_expires_at = None
    trial.reason = reason
    trial.steps = 0
    if not count_attempt:
        trial.attempt = max(trial.attempt - 1, 0)
    if trial.worker_name:
        _touch_worker(session, trial.worker_name, None, time.time())
    session.execute(delete(TrialReport).where(TrialReport.trial_id == trial.id))


def expire_leases(session: Session, *, max_attempts: int) -> int:
    """Requeue trials whose lease ran out; past ``max_attempts`` they fail. Returns count."""
    now = time.time()
    expired = session.scalars(
        select(Trial)
        .where(Trial.state == "running", Trial.lease_expires_at < now)
        .order_by(Trial.id)
        .with_for_update(skip_locked=True)
    ).all()
    for trial in expired:
        limit = session.scalar(select(Study.max_attempts).where(Study.id == trial.study_id))
        worker = trial.worker_name or "unknown"
        if trial.attempt >= (limit or max_attempts):
            stage_service.lock_stage(session, trial.stage_id)
            trial.state = "failed"
            trial.reason = f"lease expired {trial.attempt} times (last worker {worker})"
            trial.finished_at = now
            trial.lease_expires_at = None
            session.flush()
            stage_service.close_if_done(session, trial.stage_id)
        else:
            _requeue(
                session,
                trial,
                reason=f"lease expired on worker {worker} (attempt {trial.attempt})",
                count_attempt=True,
            )
    return len(expired)


def get_trial(session: Session, trial_id: int) -> Trial:
    trial = session.get(Trial, trial_id)
    if trial is None:
        raise NotFound(f"trial {trial_id} not found")
    return trial


def reports_of(session: Session, trial_id: int) -> list[TrialReport]:
    return list(
        session.scalars(
            select(TrialReport).where(TrialReport.trial_id == trial_id).order_by(TrialReport.step)
        )
    )
