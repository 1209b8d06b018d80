"""The worker's side: claim a trial under lease, heartbeat, report, finish, release."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.api import convert
from app.api.params import CONFLICT, Id
from app.deps import CanRead, DbDep, WorkerDep
from app.schemas import (
    ClaimRequest,
    EarlyAbort,
    FinishRequest,
    LeaseOut,
    LeaseRequest,
    ReleaseRequest,
    ReportOut,
    ReportRequest,
    TaskSpec,
    TrialDetail,
    TrialOut,
    TrialTask,
    timestamp,
)
from app.services import trials
from hpsearch.wire import RUNNING_HEADER

router = APIRouter(prefix="/trials", tags=["trials"])


# How soon to ask again while a stage's tail runs: the next stage opens when it ends.
WORK_COMING_RETRY_SECONDS = 1


def json_response(model: BaseModel) -> Response:
    """``model`` as the JSON FastAPI would send for it, without validating it a second time.

    The worker endpoints return this, while their ``response_model`` still documents the
    body: FastAPI passes a returned ``Response`` through as it is."""
    return Response(model.__pydantic_serializer__.to_json(model), media_type="application/json")


@router.post(
    "/claim",
    response_model=None,
    responses={
        200: {"model": TrialTask},
        204: {
            "description": "Nothing is queued. `Hpsearch-Running` counts the trials still "
            "running in the studies served: while it is above 0 more work can come (the "
            "next stage, a budget top-up), and `Retry-After` says when to ask again.",
            "headers": {
                "Hpsearch-Running": {"schema": {"type": "integer"}},
                "Retry-After": {"schema": {"type": "integer"}},
            },
        },
    },
)
def claim(body: ClaimRequest, ctx: WorkerDep) -> Response:
    """Take the oldest queued trial of a running study; 204 when there is none, saying
    whether work can still come."""
    settings = ctx.settings
    with ctx.db.write() as session:
        trial = trials.claim(
            session,
            worker=body.worker,
            studies=body.studies,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
        )
        if trial is None:
            running = trials.running_in_live_studies(session, body.studies)
            headers = {RUNNING_HEADER: str(running)}
            if running:
                headers["Retry-After"] = str(WORK_COMING_RETRY_SECONDS)
            return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)
    meta = trial.meta
    task = TrialTask(
        id=trial.id,
        study_id=trial.study_id,
        stage=trial.stage_index,
        number=trial.number,
        params=trial.params,
        task=TaskSpec.model_validate(meta.spec["task"]),
        early_abort=EarlyAbort.model_validate(meta.spec.get("early_abort") or {}),
        epochs=trial.epochs,
        seed=trial.seed,
        metric=meta.metric,
        direction="maximize" if meta.maximize else "minimize",
        attempt=trial.attempt,
        lease_token=trial.lease_token,
        lease_expires_at=timestamp(trial.lease_expires_at),
        lease_seconds=settings.lease_seconds,
    )
    # What FastAPI sends for a model under response_model=None (JSON floats as Python
    # writes them, e.g. 1e-06), without its recursive jsonable_encoder walk.
    return JSONResponse(task.model_dump(mode="json"))


@router.post("/{trial_id}/heartbeat", response_model=LeaseOut, responses=CONFLICT)
def heartbeat(trial_id: Id, body: LeaseRequest, ctx: WorkerDep) -> Response:
    """Extend the lease; 409 when the token is not the current one."""
    with ctx.db.write() as session:
        expires = trials.heartbeat(
            session, trial_id, token=body.lease_token, lease_seconds=ctx.settings.lease_seconds
        )
    return json_response(LeaseOut(lease_expires_at=timestamp(expires)))


@router.post("/{trial_id}/report", response_model=ReportOut, responses=CONFLICT)
def report(trial_id: Id, body: ReportRequest, ctx: WorkerDep) -> Response:
    """Store one step's metrics (idempotent on step); the reply says whether to stop."""
    with ctx.db.write() as session:
        stop, expires = trials.report(
            session,
            trial_id,
            token=body.lease_token,
            step=body.step,
            metrics=body.metrics,
            lease_seconds=ctx.settings.lease_seconds,
        )
    out = ReportOut(should_stop=stop, lease_expires_at=timestamp(expires))
    return json_response(out)


@router.post("/{trial_id}/finish", response_model=TrialOut, responses=CONFLICT)
def finish(trial_id: Id, body: FinishRequest, ctx: WorkerDep) -> Response:
    """End the trial as completed, aborted (early abort), pruned or failed."""
    with ctx.db.write() as session:
        trials.finish(
            session,
            trial_id,
            token=body.lease_token or "",
            state=body.state,
            metrics=body.metrics,
            reason=body.reason,
            failure_streak=ctx.settings.failure_streak,
        )
        out = convert.trial_out(trials.get_trial(session, trial_id))
    return json_response(out)


@router.post("/{trial_id}/release", response_model=TrialOut, responses=CONFLICT)
def release(trial_id: Id, body: ReleaseRequest, ctx: WorkerDep) -> Response:
    """Give the trial back to the queue now (a worker shutting down)."""
    with ctx.db.write() as session:
        trials.release(session, trial_id, token=body.lease_token, reason=body.reason)
        out = convert.trial_out(trials.get_trial(session, trial_id))
    return json_response(out)


@router.get("/{trial_id}", dependencies=[CanRead])
def get_trial(trial_id: Id, db: DbDep) -> TrialDetail:
    """A trial with every per-step report."""
    with db.read() as session:
        trial = trials.get_trial(session, trial_id)
        reports = [convert.report_row(r) for r in trials.reports_of(session, trial_id)]
        return TrialDetail(**convert.trial_out(trial).model_dump(), reports=reports)
