"""Trial lifecycle under lease: claim, heartbeat, report, finish, release, expiry.

Every function runs inside one write transaction. A claim hands out a fresh lease token
(a fencing token); anything sent later with another token is refused with ``Conflict``
and changes nothing. On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``; on SQLite the
write session opens with ``BEGIN IMMEDIATE``, so claims are serialized by the database
lock. The hot paths (claim, heartbeat, report, finish) are plain SQL statements built
once, so a request spends its time in the database, not in building queries.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import JSON, CursorResult, TextClause, bindparam, func, select, text
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid, NotFound
from app.models import Study, Trial, TrialReport
from app.search.pruning import should_prune
from app.services import stages as stage_service
from app.services.stages import StageMeta, stage_meta

_CLAIM_SELECT = """
SELECT t.id FROM trials t JOIN studies s ON s.id = t.study_id
WHERE t.state = 'queued' AND s.state = 'running' {studies}
ORDER BY t.id LIMIT 1 {lock}
"""
_CLAIM_UPDATE = text("""
UPDATE trials SET state = 'running', attempt = attempt + 1, lease_token = :token,
    lease_expires_at = :expires, worker_name = :worker, started_at = :now
WHERE id = :id
RETURNING id, study_id, stage_id, stage_index, number, params, epochs, seed, attempt
""").columns(params=JSON)
_EXTEND = text("""
UPDATE trials SET lease_expires_at = :expires,
    steps = CASE WHEN steps < :step THEN :step ELSE steps END
WHERE id = :id AND lease_token = :token AND state = 'running' AND :step <= epochs
RETURNING stage_id, epochs, worker_name
""")
_INSERT_REPORT = text("""
INSERT INTO trial_reports (trial_id, stage_id, step, objective, metrics, created_at)
VALUES (:trial_id, :stage_id, :step, :objective, :metrics, :now)
ON CONFLICT (trial_id, step) DO NOTHING
""").bindparams(bindparam("metrics", type_=JSON))
_OTHERS_AT_STEP = text("""
SELECT objective FROM trial_reports
WHERE stage_id = :stage_id AND step = :step AND trial_id != :trial_id
    AND objective IS NOT NULL
""")
_TOUCH_WORKER = text(
    "UPDATE workers SET last_seen_at = :now, current_trial_id = :trial_id WHERE name = :name"
)
_LEASE_STATE = text(
    "SELECT state, lease_token, stage_id, worker_name, epochs FROM trials WHERE id = :id"
)
_FINISH = text("""
UPDATE trials SET state = :state, metrics = :metrics, objective = :objective,
    rank_key = :rank_key, reason = :reason, finished_at = :now, lease_expires_at = NULL
WHERE id = :id AND lease_token = :token AND state = 'running'
""").bindparams(bindparam("metrics", type_=JSON))


@dataclass(frozen=True)
class Claimed:
    """A trial just handed to a worker, with its study's fixed settings."""

    id: int
    study_id: int
    stage_index: int
    number: int
    params: dict[str, Any]
    epochs: int
    seed: int
    attempt: int
    lease_token: str
    lease_expires_at: float
    meta: StageMeta


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


@cache
def _claim_select(by_study: bool, postgres: bool) -> TextClause:
    stmt = text(_CLAIM_SELECT.format(
        studies="AND t.study_id IN :studies" if by_study else "",
        lock="FOR UPDATE OF t SKIP LOCKED" if postgres else "",
    ))
    return stmt.bindparams(bindparam("studies", expanding=True)) if by_study else stmt


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def claim(
    session: Session,
    *,
    worker: str,
    studies: list[int] | None,
    lease_seconds: float,
    max_attempts: int,
) -> Claimed | None:
    """Hand the oldest queued trial of a running study to ``worker``, or None."""
    claimed = _claim_one(session, worker, studies, lease_seconds)
    if claimed is None and expire_leases(session, max_attempts=max_attempts):
        claimed = _claim_one(session, worker, studies, lease_seconds)
    return claimed


def running_in_live_studies(session: Session, studies: list[int] | None) -> int:
    """Trials still running in running studies (of ``studies``, when given).

    Asked when a claim finds nothing queued: while a stage's last trials run, the study can
    still open work (the next stage, or a budget stage's top-up), so a worker should wait
    for it rather than count itself idle."""
    stmt = (
        select(func.count())
        .select_from(Trial)
        .join(Study, Study.id == Trial.study_id)
        .where(Trial.state == "running", Study.state == "running")
    )
    if studies:
        stmt = stmt.where(Trial.study_id.in_(studies))
    return int(session.scalar(stmt) or 0)


def _claim_one(
    session: Session, worker: str, studies: list[int] | None, lease_seconds: float
) -> Claimed | None:
    stmt = _claim_select(bool(studies), _is_postgres(session))
    trial_id = session.execute(stmt, {"studies": studies} if studies else {}).scalar()
    if trial_id is None:
        return None
    now = time.time()
    token = secrets.token_urlsafe(24)
    expires = now + lease_seconds
    row = session.execute(
        _CLAIM_UPDATE,
        {"token": token, "expires": expires, "worker": worker, "now": now, "id": trial_id},
    ).one()
    session.execute(_TOUCH_WORKER, {"now": now, "trial_id": trial_id, "name": worker})
    return Claimed(
        id=row.id,
        study_id=row.study_id,
        stage_index=row.stage_index,
        number=row.number,
        params=row.params,
        epochs=row.epochs,
        seed=row.seed,
        attempt=row.attempt,
        lease_token=token,
        lease_expires_at=expires,
        meta=stage_meta(session, row.stage_id),
    )


def _refuse(session: Session, trial_id: int, token: str, step: int = 0) -> None:
    """Explain why ``token`` does not hold a live lease on the trial, or why ``step`` is
    refused: a trial reports at most its own epochs, so a budget stage's spent epochs stay
    what its trials may train."""
    row = session.execute(_LEASE_STATE, {"id": trial_id}).first()
    if row is None:
        raise NotFound(f"trial {trial_id} not found")
    if row.lease_token != token:
        raise Conflict(f"trial {trial_id}: lease token is not current (the lease was lost)")
    if row.state == "running" and step > row.epochs:
        raise Invalid(
            f"step {step} is beyond the trial's {row.epochs} epochs", field="step"
        )
    raise Conflict(f"trial {trial_id} is {row.state}, not running")


def _extend(
    session: Session, trial_id: int, token: str, lease_seconds: float, step: int = 0
) -> tuple[float, Any]:
    """Extend the lease (and the step count) in one conditional update."""
    expires = time.time() + lease_seconds
    row = session.execute(
        _EXTEND, {"expires": expires, "step": step, "id": trial_id, "token": token}
    ).first()
    if row is None:
        _refuse(session, trial_id, token, step)
    return expires, row


def heartbeat(session: Session, trial_id: int, *, token: str, lease_seconds: float) -> float:
    expires, row = _extend(session, trial_id, token, lease_seconds)
    if row.worker_name:
        session.execute(
            _TOUCH_WORKER, {"now": time.time(), "trial_id": trial_id, "name": row.worker_name}
        )
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
    expires, row = _extend(session, trial_id, token, lease_seconds, step)
    meta = stage_meta(session, row.stage_id)
    objective = objective_of(metrics, meta.metric)
    session.execute(
        _INSERT_REPORT,
        {"trial_id": trial_id, "stage_id": row.stage_id, "step": step,
         "objective": objective, "metrics": metrics, "now": time.time()},
    )
    if meta.pruning.rule == "none" or objective is None:
        return False, expires

    def others(at: int) -> list[float]:
        """The peers' values at ``at``: queried only when the rule judges this step."""
        params = {"stage_id": row.stage_id, "step": at, "trial_id": trial_id}
        return list(session.execute(_OTHERS_AT_STEP, params).scalars())

    stop = should_prune(
        meta.pruning,
        epoch=step,
        value=objective,
        others=others,
        maximize=meta.maximize,
        max_epochs=row.epochs,
    )
    return stop, expires


def finish(
    session: Session,
    trial_id: int,
    *,
    token: str,
    state: str,
    metrics: dict[str, Any],
    reason: str | None,
    failure_streak: int,
) -> int:
    """End a running trial; the last trial of a stage closes it and opens the next.

    A retried finish that already went through (same token, same state) is accepted."""
    row = session.execute(_LEASE_STATE, {"id": trial_id}).first()
    if row is None:
        raise NotFound(f"trial {trial_id} not found")
    if row.lease_token == token and row.state == state:
        return trial_id
    stage_service.lock_stage(session, row.stage_id)
    meta = stage_meta(session, row.stage_id)
    objective = objective_of(metrics, meta.metric)
    now = time.time()
    done = cast("CursorResult[Any]", session.execute(  # an UPDATE: a CursorResult
        _FINISH,
        {"state": state, "metrics": metrics, "objective": objective,
         "rank_key": rank_key(objective, meta.maximize), "reason": reason, "now": now,
         "id": trial_id, "token": token},
    )).rowcount
    if not done:
        _refuse(session, trial_id, token)
    if row.worker_name:
        session.execute(_TOUCH_WORKER, {"now": now, "trial_id": None, "name": row.worker_name})
    if state == "failed":
        stage_service.pause_on_failure_streak(session, meta.study_id, failure_streak)
    stage_service.close_if_done(session, row.stage_id)
    return trial_id


def release(session: Session, trial_id: int, *, token: str, reason: str | None) -> int:
    """Give a running trial back to the queue at once (graceful worker shutdown)."""
    trial = session.get(Trial, trial_id, with_for_update=True)
    if trial is None or trial.lease_token != token or trial.state != "running":
        _refuse(session, trial_id, token)
    assert trial is not None
    _requeue(session, trial, reason=reason or "released by worker", count_attempt=False)
    return trial_id


def _requeue(session: Session, trial: Trial, *, reason: str, count_attempt: bool) -> None:
    """Back to the queue; the reports of the lost attempt go, the next run starts over."""
    if trial.worker_name:
        session.execute(
            _TOUCH_WORKER, {"now": time.time(), "trial_id": None, "name": trial.worker_name}
        )
    trial.state = "queued"
    trial.lease_token = None
    trial.lease_expires_at = None
    trial.reason = reason
    trial.steps = 0
    if not count_attempt:
        trial.attempt = max(trial.attempt - 1, 0)
    session.query(TrialReport).filter(TrialReport.trial_id == trial.id).delete()


def expire_leases(session: Session, *, max_attempts: int) -> int:
    """Requeue trials whose lease ran out; past their study's ``max_attempts`` they fail.

    Locks each trial's stage before the trial itself, in the same order as ``finish``,
    so a sweep and a late finish never deadlock. Returns how many trials it handled."""
    now = time.time()
    candidates = session.execute(
        select(Trial.id, Trial.stage_id)
        .where(Trial.state == "running", Trial.lease_expires_at < now)
        .order_by(Trial.id)
    ).all()
    handled = 0
    for trial_id, stage_id in candidates:
        stage_service.lock_stage(session, stage_id)
        trial = session.scalar(
            select(Trial)
            .where(Trial.id == trial_id, Trial.state == "running", Trial.lease_expires_at < now)
            .with_for_update(skip_locked=True)
        )
        if trial is None:
            continue
        handled += 1
        worker = trial.worker_name or "unknown"
        limit = stage_meta(session, stage_id).max_attempts or max_attempts
        if trial.attempt >= limit:
            trial.state = "failed"
            trial.reason = f"lease expired {trial.attempt} times (last worker {worker})"
            trial.finished_at = now
            trial.lease_expires_at = None
            session.flush()
            stage_service.close_if_done(session, stage_id)
        else:
            _requeue(
                session,
                trial,
                reason=f"lease expired on worker {worker} (attempt {trial.attempt})",
                count_attempt=True,
            )
    return handled


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
