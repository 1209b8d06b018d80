"""A study's confirmation: each candidate's runs (mean, spread) and the study's pick."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.models import Stage, Study, Trial
from app.search.confirm import Confirmed, confirmed, pick, pick_reason
from app.search.trials import TrialOutcome
from app.services.leaderboard import RankedBy, rank_in_study
from app.services.stages import ACTIVE_STATES, OUTCOME_COLUMNS, confirm_policy, outcome_of


@dataclass(frozen=True)
class Confirmation:
    """The confirmation stage's candidates (best-ranked first) with their runs; the pick
    once the stage is done (every run ended)."""

    stage: int
    epochs: int
    candidates: dict[int, Confirmed]
    pick: Confirmed | None

    @property
    def reason(self) -> str | None:
        return pick_reason(self.pick) if self.pick else None


def confirmation(session: Session, study: Study) -> Confirmation | None:
    """The study's confirmation, or None while (or if) it has none."""
    index = next((i for i in range(len(study.spec["stages"]))
                  if confirm_policy(study, i) is not None), None)
    if index is None:
        return None
    stage = session.scalar(
        select(Stage).where(Stage.study_id == study.id, Stage.index == index)
    )
    if stage is None:
        return None
    ids = [int(i) for i in stage.source_trial_ids]
    rows = session.execute(
        select(*OUTCOME_COLUMNS, Trial.candidate_id).where(
            Trial.study_id == study.id,
            or_(Trial.id.in_(ids), Trial.stage_id == stage.id),
        ).order_by(Trial.id)
    ).all()
    runs: dict[int, list[TrialOutcome | None]] = {c: [None] for c in ids}
    for r in rows:
        ended = r.state not in ACTIVE_STATES
        if r.id in runs:
            runs[r.id][0] = outcome_of(r) if ended else None
        elif r.candidate_id in runs:
            runs[r.candidate_id].append(outcome_of(r) if ended else None)
    summaries = confirmed(runs, epochs=stage.epochs)
    chosen = pick(summaries, maximize=study.maximize) if stage.state == "done" else None
    return Confirmation(index, stage.epochs, {s.candidate: s for s in summaries}, chosen)


class Picked(NamedTuple):
    """The study's pick: its confirmation, the trial, and the trial's leaderboard rank."""

    confirmation: Confirmation
    trial: Trial
    rank: int
    ranked_by: RankedBy


def study_pick(session: Session, study: Study) -> Picked | None:
    """The study's confirmation with its picked trial, once there is a pick."""
    conf = confirmation(session, study)
    if conf is None or conf.pick is None:
        return None
    trial = session.get_one(Trial, conf.pick.candidate)
    return Picked(conf, trial, rank_in_study(session, trial),
                  RankedBy(study.name, study.metric, study.maximize))
