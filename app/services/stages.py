"""Stages of a study: opening one (sampling its trials), closing it, refining the next."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, case, exists, func, insert, select
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid, NotFound
from app.models import Stage, Study, StudyWarning, Trial
from app.schemas import MAX_STAGE_TRIALS, check_budget_trials
from app.search.confirm import ConfirmPolicy, candidates
from app.search.edges import SearchWarning, warning_key
from app.search.limits import Domain, Domains
from app.search.pruning import PruningPolicy, default_pruning
from app.search.refine import RefinePolicy, refine
from app.search.samplers import SamplerName, sample
from app.search.space import SearchSpace
from app.search.trials import TrialOutcome, stalled_reason

ACTIVE_STATES = ("queued", "running")
OUTCOME_COLUMNS = (Trial.id, Trial.params, Trial.state, Trial.objective, Trial.steps,
                   Trial.epochs, Trial.reason)
SEED_MODULUS = 2**31 - 1
# Trials a budget stage keeps queued ahead: one transaction never inserts more, and ending
# trials top the queue up again once it is down to half.
QUEUE_WINDOW = 1000


@dataclass(frozen=True)
class StageMeta:
    """What never changes about a stage and its study: safe to keep per database."""

    study_id: int
    metric: str
    maximize: bool
    max_attempts: int
    pruning: PruningPolicy
    spec: dict[str, Any]


def stage_meta(session: Session, stage_id: int) -> StageMeta:
    """The stage's fixed settings, cached in the database's session info."""
    cache: dict[int, StageMeta] = session.info.setdefault("stage_meta", {})
    meta = cache.get(stage_id)
    if meta is None:
        row = session.execute(
            select(Study.id, Study.metric, Study.maximize, Study.max_attempts, Study.spec,
                   Stage.pruning)
            .join(Stage, Stage.study_id == Study.id)
            .where(Stage.id == stage_id)
        ).one()
        meta = StageMeta(row.id, row.metric, row.maximize, row.max_attempts,
                         PruningPolicy.model_validate(row.pruning), row.spec)
        cache[stage_id] = meta
    return meta


def lock_stage(session: Session, stage_id: int) -> None:
    """Serialize the finishers of one stage so exactly one of them closes it.

    SQLite needs nothing: its write transactions already hold the database lock."""
    if session.get_bind().dialect.name != "sqlite":
        session.execute(select(Stage.id).where(Stage.id == stage_id).with_for_update())


def trial_seed(study_seed: int, number: int) -> int:
    return (study_seed * 1_000_003 + number * 7_919 + 1) % SEED_MODULUS


def open_stage(
    session: Session,
    study: Study,
    *,
    index: int,
    space: SearchSpace,
    trials: int | None,
    epochs: int,
    sampler: str,
    pruning: PruningPolicy | None,
    budget: int | None = None,
    policy: RefinePolicy | None = None,
    source_trial_ids: list[int] | None = None,
) -> Stage:
    """Create stage ``index`` and queue its sampled trials: ``trials`` of them, or for a
    ``budget`` of epochs as many full-length trials as it buys, at most ``QUEUE_WINDOW``
    at a time (ending trials queue more, and pruning leaves budget over: see ``top_up``)."""
    try:
        check_budget_trials(budget, epochs)
    except ValueError as exc:
        raise Invalid(str(exc), field="budget") from None
    stage = _new_stage(
        session, study, index=index, space=space, epochs=epochs, budget=budget,
        sampler=sampler, pruning=pruning or default_pruning(epochs), policy=policy,
        source_trial_ids=source_trial_ids or [],
    )
    if budget is not None:
        top_up(session, stage, study)
    else:
        assert trials is not None
        sample_more(session, study, stage, trials, epochs=epochs)
    return stage


def _new_stage(
    session: Session,
    study: Study,
    *,
    index: int,
    space: SearchSpace,
    epochs: int,
    budget: int | None,
    sampler: str,
    pruning: PruningPolicy,
    policy: RefinePolicy | None,
    source_trial_ids: list[int],
) -> Stage:
    """Store stage ``index``, still empty, and make it the study's current stage."""
    now = time.time()
    stage = Stage(
        study_id=study.id,
        index=index,
        state="open",
        space=space.model_dump(mode="json"),
        epochs=epochs,
        n_trials=0,
        budget=budget,
        sampler=sampler,
        pruning=pruning.model_dump(mode="json"),
        policy=policy.model_dump(mode="json") if policy else None,
        source_trial_ids=source_trial_ids,
        created_at=now,
    )
    session.add(stage)
    session.flush()
    study.current_stage = index
    study.updated_at = now
    return stage


def open_confirmation(
    session: Session,
    study: Study,
    *,
    index: int,
    space: SearchSpace,
    epochs: int,
    confirm: ConfirmPolicy,
    sampler: str,
) -> Stage | None:
    """Open confirmation stage ``index``: the study's ``confirm.top`` best ended search
    trials (ranked at comparable fidelity), each queued ``confirm.repeats`` times with its
    params, a fresh seed and ``epochs`` epochs, unpruned. None if no trial has a score.

    The stage's ``source_trial_ids`` are the candidates, best first."""
    rows = session.execute(
        select(*OUTCOME_COLUMNS).where(
            Trial.study_id == study.id, Trial.state.not_in(ACTIVE_STATES),
            Trial.candidate_id.is_(None),
        )
    ).all()
    chosen = candidates([(r.id, outcome_of(r)) for r in rows], confirm.top,
                        maximize=study.maximize)
    if not chosen:
        return None
    stage = _new_stage(
        session, study, index=index, space=space, epochs=epochs, budget=None,
        sampler=sampler, pruning=PruningPolicy(rule="none"), policy=None,
        source_trial_ids=chosen,
    )
    params = {r.id: r.params for r in rows}
    runs = [c for c in chosen for _ in range(confirm.repeats)]
    add_trials(session, study, stage, [params[c] for c in runs], origin="confirm",
               epochs=epochs, candidates=runs)
    stage.n_trials = len(runs)
    return stage


def sample_more(session: Session, study: Study, stage: Stage, n: int, *, epochs: int) -> None:
    """Queue the stage's next ``n`` sampled points (one seeded sequence per stage, so a
    Sobol stage that grows keeps its balance) to train for ``epochs``."""
    space = SearchSpace.model_validate(stage.space)
    seed = (study.seed + 104_729 * stage.index) % SEED_MODULUS
    drawn = stage.n_trials
    sampler = cast(SamplerName, stage.sampler)  # a str column, validated by StudySpec
    points = sample(space, drawn + n, seed=seed, method=sampler, start=drawn)
    add_trials(session, study, stage, points, origin="sampled", epochs=epochs)
    stage.n_trials = drawn + n


def add_trials(
    session: Session,
    study: Study,
    stage: Stage,
    params: list[dict[str, Any]],
    *,
    origin: str,
    results: list[dict[str, Any] | None] | None = None,
    epochs: int | None = None,
    candidates: list[int] | None = None,
) -> list[int]:
    """Insert trials numbered after the study's last one (training ``epochs``, by default
    the stage's; confirmation runs name their ``candidates``); returns their numbers."""
    first = study.next_number
    now = time.time()
    rows = []
    for i, p in enumerate(params):
        row: dict[str, Any] = {
            "study_id": study.id,
            "stage_id": stage.id,
            "stage_index": stage.index,
            "number": first + i,
            "state": "queued",
            "origin": origin,
            "params": p,
            "epochs": epochs or stage.epochs,
            "seed": trial_seed(study.seed, first + i),
            "attempt": 0,
            "metrics": {},
            "steps": 0,
            "created_at": now,
            "candidate_id": candidates[i] if candidates else None,
        }
        result = results[i] if results else None
        if result:
            row.update(result)
        rows.append(row)
    if rows:
        session.execute(insert(Trial), rows)
    study.next_number = first + len(params)
    return list(range(first, first + len(params)))


def has_active(session: Session, stage_id: int) -> bool:
    """Whether a trial of the stage is queued or running: the first index entry decides,
    so a finish costs the same in a stage of ten trials or of a hundred thousand."""
    return bool(session.scalar(select(exists().where(
        Trial.stage_id == stage_id, Trial.state.in_(ACTIVE_STATES)))))


def close_if_done(session: Session, stage_id: int) -> None:
    """Called as a trial of the stage ends, under the stage lock: a budget stage with
    budget left and nothing queued samples more; a stage with no trial queued or running
    is closed and the next one opened."""
    stage = session.get(Stage, stage_id, populate_existing=True)
    if stage is None or stage.state != "open":
        return
    if stage.budget is not None and top_up(session, stage):
        return
    if has_active(session, stage_id):
        return
    study = session.get_one(Study, stage.study_id)
    advance(session, study, stage)


def top_up(session: Session, stage: Stage, study: Study | None = None) -> bool:
    """Queue more trials for a budget stage whose queue is down to half a window; True if
    it did.

    The budget pays for epochs trained by ended trials (at least one each, so a stage
    whose every trial fails at once still ends) and reserves every queued or running
    trial's full allowance; what is left buys full-length trials, up to ``QUEUE_WINDOW``
    queued and ``MAX_STAGE_TRIALS`` sampled in all, or, with nothing queued, one shorter
    trial for the rest. The stage never trains more than its budget; it may wait for
    running trials that end early before spending what they did not use."""
    assert stage.budget is not None
    queued = int(session.scalar(select(func.count()).select_from(
        select(Trial.id).where(Trial.stage_id == stage.id, Trial.state == "queued")
        .limit(QUEUE_WINDOW // 2).subquery())) or 0)
    room = min(QUEUE_WINDOW - queued, MAX_STAGE_TRIALS - stage.n_trials)
    if queued >= QUEUE_WINDOW // 2 or room <= 0:
        return False
    study = study or session.get_one(Study, stage.study_id)
    if study.state == "cancelled":
        return False
    active = Trial.state.in_(ACTIVE_STATES)
    committed = session.scalar(
        select(func.coalesce(func.sum(case(
            (active, Trial.epochs), (Trial.steps < 1, 1), else_=Trial.steps)), 0))
        .where(Trial.stage_id == stage.id)
    )
    left = stage.budget - int(committed or 0)
    full = min(left // stage.epochs, room)
    if full > 0:
        sample_more(session, study, stage, full, epochs=stage.epochs)
    elif left > 0 and queued == 0:
        sample_more(session, study, stage, 1, epochs=left)
    else:
        return False
    return True


def advance(
    session: Session,
    study: Study,
    stage: Stage,
    *,
    policy: RefinePolicy | None = None,
    trials: int | None = None,
    budget: int | None = None,
    epochs: int | None = None,
    extend: bool = False,
) -> Stage | None:
    """Close ``stage``, record what it teaches and open the next stage of the plan (with
    ``extend``, one more beyond its end)."""
    now = time.time()
    policy = policy or RefinePolicy.model_validate(study.spec.get("refine", {}))
    if confirm_policy(study, stage.index) is not None:
        stage.state, stage.closed_at = "done", now
        new_space, source_ids = SearchSpace.model_validate(stage.space), list[int]()
    else:
        new_space, source_ids = _close_and_refine(session, study, stage, policy, now)
    step = _next_step(study, stage, extend)
    confirm = confirm_policy(study, stage.index + 1)
    if step is not None and confirm is not None and trials is None and budget is None:
        opened = open_confirmation(
            session, study, index=stage.index + 1, space=new_space,
            epochs=epochs or step.get("epochs") or stage.epochs, confirm=confirm,
            sampler=stage.sampler,
        )
        if opened is not None:
            return opened
        step = None  # nothing scored: nothing to confirm
    if step is None:
        if study.state in ("running", "paused"):
            study.state = "completed"
        study.updated_at = now
        return None
    if trials is None and budget is None:
        trials, budget = step.get("trials"), step.get("budget")
    pruning = step.get("pruning")
    return open_stage(
        session,
        study,
        index=stage.index + 1,
        space=new_space,
        trials=trials,
        budget=budget,
        epochs=epochs or step.get("epochs") or stage.epochs,
        sampler=step.get("sampler") or study.spec.get("sampler", "random"),
        pruning=PruningPolicy.model_validate(pruning) if pruning else None,
        policy=policy,
        source_trial_ids=source_ids,
    )


def _close_and_refine(
    session: Session, study: Study, stage: Stage, policy: RefinePolicy, now: float
) -> tuple[SearchSpace, list[int]]:
    """Mark ``stage`` done, store the warnings its ended trials raise, and return the space
    they refine to with the ids of those trials."""
    stage.state = "done"
    stage.closed_at = now
    rows = session.execute(
        select(*OUTCOME_COLUMNS).where(
            Trial.stage_id == stage.id, Trial.state.not_in(ACTIVE_STATES)
        )
    ).all()
    outcomes = [outcome_of(r) for r in rows]
    space = SearchSpace.model_validate(stage.space)
    new_space, warnings = refine(
        space, outcomes, policy, maximize=study.maximize, domains=trainer_domains(study.spec)
    )
    record_warnings(session, study.id, stage.index, warnings)
    return new_space, [r.id for r in rows]


def outcome_of(row: Row[Any]) -> TrialOutcome:
    """An ended trial (a row of ``OUTCOME_COLUMNS``) as the search logic sees it."""
    return TrialOutcome(row.params, row.state, row.objective, row.steps, allowed=row.epochs,
                        stalled=row.state == "aborted" and stalled_reason(row.reason))


def confirm_policy(study: Study, index: int) -> ConfirmPolicy | None:
    """The confirmation the plan runs as stage ``index``, if that stage is one."""
    plan = study.spec["stages"]
    found = plan[index].get("confirm") if 0 <= index < len(plan) else None
    return ConfirmPolicy.model_validate(found) if found else None


def _next_step(study: Study, stage: Stage, extend: bool) -> dict[str, Any] | None:
    """The plan's entry for the stage after ``stage``; beyond the plan, None, or with
    ``extend`` a stage shaped like ``stage``."""
    plan = study.spec["stages"]
    nxt = stage.index + 1
    if nxt < len(plan):
        return dict(plan[nxt])
    if not extend:
        return None
    return {"trials": None if stage.budget else stage.n_trials, "budget": stage.budget}


def refine_now(
    session: Session,
    study_id: int,
    *,
    policy: RefinePolicy | None,
    trials: int | None,
    epochs: int | None,
    budget: int | None = None,
) -> Stage:
    """Refine the current stage by hand, before it ends or beyond the plan."""
    study, stage = lock_current_stage(session, study_id)
    if study.state == "completed":
        study.state = "running"
    new = advance(
        session,
        study,
        stage,
        policy=policy,
        trials=trials,
        budget=budget,
        epochs=epochs,
        extend=True,
    )
    assert new is not None
    return new


def lock_current_stage(session: Session, study_id: int) -> tuple[Study, Stage]:
    """Lock a live study's current stage, then the study: the order finishers use too."""
    for _ in range(3):
        current = session.scalar(select(Study.current_stage).where(Study.id == study_id))
        if current is None:
            raise NotFound(f"study {study_id} not found")
        stage = session.scalar(
            select(Stage)
            .where(Stage.study_id == study_id, Stage.index == current)
            .with_for_update()
        )
        study = session.get_one(Study, study_id, with_for_update=True, populate_existing=True)
        if study.state == "cancelled":
            raise Conflict(f"study {study_id} is cancelled")
        if stage is not None and study.current_stage == stage.index:
            return study, stage
    raise Conflict(f"study {study_id} is changing stage; try again")


def trainer_domains(spec: dict[str, Any]) -> Domains | None:
    """What the built-in trainer accepts for each numeric setting; None for custom tasks."""
    if spec.get("task", {}).get("type", "builtin") != "builtin":
        return None
    from worker.nn.config import setting_domain

    out = {}
    for name in spec.get("space", {}):
        found = setting_domain(name)
        if found is not None:
            low, high, low_in, high_in = found
            out[name] = Domain(low, high, low_open=not low_in, high_open=not high_in)
    return out


def record_warnings(
    session: Session, study_id: int, stage_index: int | None, warnings: list[SearchWarning]
) -> None:
    """Store the warnings the study has not been given yet: a bound the plan kept, or a
    stage refined again by hand, does not repeat what an earlier stage said."""
    now = time.time()
    rows = session.execute(
        select(
            StudyWarning.kind,
            StudyWarning.param,
            StudyWarning.side,
            StudyWarning.message,
            StudyWarning.details,
        ).where(StudyWarning.study_id == study_id)
    ).all()
    seen = {
        warning_key(
            SearchWarning(r.kind, r.param, r.side, r.message, [], _range(r.details))
        )
        for r in rows
    }
    for w in warnings:
        key = warning_key(w)
        if key in seen:
            continue
        seen.add(key)
        details = w.to_dict()
        session.add(
            StudyWarning(
                study_id=study_id,
                stage_index=stage_index,
                kind=w.kind,
                param=w.param,
                side=w.side,
                message=w.message,
                details={k: details[k] for k in ("values", "range")},
                created_at=now,
            )
        )


def _range(details: dict[str, Any] | None) -> tuple[float, float] | None:
    found = (details or {}).get("range")
    return (found[0], found[1]) if found else None


def pause_on_failure_streak(session: Session, study_id: int, streak: int) -> None:
    """Pause a study whose last ``streak`` trials all failed for the same reason."""
    rows = session.execute(
        select(Trial.state, Trial.reason)
        .where(Trial.study_id == study_id, Trial.finished_at.is_not(None))
        .order_by(Trial.finished_at.desc())
        .limit(streak)
    ).all()
    if len(rows) < streak or any(r.state != "failed" for r in rows):
        return
    heads = {(r.reason or "").strip().splitlines()[0] if r.reason else "" for r in rows}
    if len(heads) != 1:
        return
    study = session.get_one(Study, study_id)
    if study.state == "running":
        study.state = "paused"
        study.state_reason = (
            f"paused after {streak} trials in a row failed with: {heads.pop() or 'no reason'}"
        )
        study.updated_at = time.time()
