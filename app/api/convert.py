"""ORM rows to wire models."""

from __future__ import annotations

from app.models import ApiToken, Stage, Study, StudyWarning, Trial, TrialReport, Worker
from app.schemas import (
    ConfirmOut,
    LeaderboardRow,
    PickOut,
    StageOut,
    StudySummary,
    TokenOut,
    TrialOut,
    WarningOut,
    WorkerOut,
    timestamp,
)
from app.search.confirm import Confirmed
from app.services.confirmation import Confirmation, Picked
from app.services.leaderboard import RankedBy

KEY_METRICS = ("val_accuracy", "train_accuracy", "test_accuracy", "train_loss", "val_loss",
               "best_epoch", "epochs_run")


def study_summary(
    study: Study, counts: dict[str, int], best: float | None, warnings: int
) -> StudySummary:
    return StudySummary(
        id=study.id,
        name=study.name,
        state=study.state,
        state_reason=study.state_reason,
        dataset=study.dataset,
        metric=study.metric,
        direction="maximize" if study.maximize else "minimize",
        current_stage=study.current_stage,
        counts=counts,
        best=best,
        warnings=warnings,
        created_at=timestamp(study.created_at),
    )


def stage_out(stage: Stage, counts: dict[str, int], epochs_spent: int) -> StageOut:
    return StageOut(
        index=stage.index,
        state=stage.state,
        epochs=stage.epochs,
        trials=stage.n_trials,
        budget=stage.budget,
        epochs_spent=epochs_spent,
        sampler=stage.sampler,
        space=stage.space,
        pruning=stage.pruning,
        policy=stage.policy,
        source_trial_ids=stage.source_trial_ids,
        counts=counts,
    )


def warning_out(w: StudyWarning) -> WarningOut:
    return WarningOut.model_validate(w)


def trial_out(t: Trial) -> TrialOut:
    return TrialOut.model_validate(t)


def report_row(r: TrialReport) -> dict:
    return {"step": r.step, "metrics": r.metrics}


def confirm_out(c: Confirmed, conf: Confirmation) -> ConfirmOut:
    return ConfirmOut(
        runs=c.runs, mean=c.mean, std=c.std,
        min=min(c.values) if c.values else None, max=max(c.values) if c.values else None,
        unfinished=c.unfinished, pending=c.pending, pick=conf.pick is c,
    )


def pick_out(picked: Picked) -> PickOut:
    conf, t = picked.confirmation, picked.trial
    assert conf.pick is not None and conf.reason is not None
    return PickOut(**confirm_out(conf.pick, conf).model_dump(), trial_id=t.id,
                   reason=conf.reason,
                   trial=leaderboard_row(picked.rank, t, picked.ranked_by, conf))


def leaderboard_row(
    rank: int, t: Trial, study: RankedBy, conf: Confirmation | None = None
) -> LeaderboardRow:
    mine = conf.candidates.get(t.id) if conf else None
    return LeaderboardRow(
        rank=rank,
        trial_id=t.id,
        study_id=t.study_id,
        study=study.name,
        number=t.number,
        stage=t.stage_index,
        state=t.state,
        objective=t.objective,
        metric=study.metric,
        direction="maximize" if study.maximize else "minimize",
        params=t.params,
        metrics={k: t.metrics[k] for k in KEY_METRICS if k in t.metrics},
        epochs_run=t.steps,
        candidate=t.candidate_id,
        confirmed=confirm_out(mine, conf) if mine and conf else None,
        pick=conf.reason if conf and mine and conf.pick is mine else None,
    )


def worker_out(w: Worker) -> WorkerOut:
    return WorkerOut.model_validate(w)


def token_out(t: ApiToken) -> TokenOut:
    return TokenOut(
        id=t.id,
        name=t.name,
        role=t.role,
        prefix=t.prefix,
        created_at=timestamp(t.created_at),
        revoked=t.revoked_at is not None,
    )
