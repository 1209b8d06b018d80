"""Every trial of a study as CSV or JSON, streamed in batches from a server-side cursor.

The generators open their own read session (one snapshot for the whole export), so they
can outlive the request handler that returns them; memory stays bounded by one batch.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from app.csvsafe import spreadsheet_safe
from app.db import Database
from app.models import Trial, TrialReport
from app.schemas import ReportOutRow, TrialDetail, timestamp
from app.services.confirmation import Confirmation, confirmation
from app.services.points import param_types
from app.services.studies import get_study

BATCH = 500
TRIAL_COLUMNS = (
    Trial.id, Trial.study_id, Trial.stage_index, Trial.number, Trial.state, Trial.origin,
    Trial.candidate_id, Trial.params, Trial.epochs, Trial.steps, Trial.attempt,
    Trial.objective, Trial.metrics,
    Trial.reason, Trial.worker_name, Trial.created_at, Trial.started_at, Trial.finished_at,
)
CSV_FIELDS = ("trial_id", "number", "stage", "state", "origin", "objective", "epochs", "steps",
              "attempt", "reason", "worker", "created_at", "started_at", "finished_at",
              "candidate", "confirm_runs", "confirm_mean", "confirm_std", "confirm_min",
              "confirm_max", "pick")


def _batches(session: Session, study_id: int) -> Iterator[Sequence[Row[Any]]]:
    """The study's trials by id, ``BATCH`` rows at a time from a server-side cursor."""
    result = session.execute(
        select(*TRIAL_COLUMNS)
        .where(Trial.study_id == study_id)
        .order_by(Trial.id)
        .execution_options(yield_per=BATCH)
    )
    yield from result.partitions()


def _detail(row: Row[Any], reports: list[ReportOutRow]) -> TrialDetail:
    return TrialDetail.model_validate({**row._mapping, "reports": reports})


def _reports(session: Session, trial_ids: list[int]) -> dict[int, list[ReportOutRow]]:
    out: dict[int, list[ReportOutRow]] = {i: [] for i in trial_ids}
    for trial_id, step, metrics in session.execute(
        select(TrialReport.trial_id, TrialReport.step, TrialReport.metrics)
        .where(TrialReport.trial_id.in_(trial_ids))
        .order_by(TrialReport.trial_id, TrialReport.step)
    ):
        out[trial_id].append(ReportOutRow(step=step, metrics=metrics))
    return out


def _metric_names(session: Session, study_id: int) -> list[str]:
    """Every final-metric key any trial has (one streamed pass over the metrics column)."""
    names: dict[str, None] = {}
    result = session.execute(
        select(Trial.metrics).where(Trial.study_id == study_id).execution_options(yield_per=BATCH)
    )
    for metrics in result.scalars():
        names.update(dict.fromkeys(metrics))
    return sorted(names)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return spreadsheet_safe(value)


def _pick(conf: Confirmation | None) -> dict[str, Any] | None:
    if conf is None or conf.pick is None:
        return None
    return {"trial_id": conf.pick.candidate, "reason": conf.reason}


def _confirmed(conf: Confirmation | None) -> list[dict[str, Any]]:
    """Each confirmed candidate's runs: trial id, objectives, mean, std, unfinished."""
    if conf is None:
        return []
    return [{"trial_id": c.candidate, "values": c.values, "runs": c.runs, "mean": c.mean,
             "std": c.std, "unfinished": c.unfinished, "pending": c.pending}
            for c in conf.candidates.values()]


def _iso(seconds: float | None) -> str:
    moment = timestamp(seconds)
    return moment.isoformat() if moment else ""


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _confirm_cells(conf: Confirmation | None, trial_id: int) -> list[Any]:
    """A confirmed candidate's runs, mean, std, min, max and pick reason ('' elsewhere)."""
    mine = conf.candidates.get(trial_id) if conf else None
    if conf is None or mine is None:
        return [""] * 6
    values = mine.values
    return [mine.runs, _cell(mine.mean), _cell(mine.std), _cell(min(values, default=None)),
            _cell(max(values, default=None)), conf.reason if conf.pick is mine else ""]


def export_csv(db: Database, study_id: int) -> Iterator[str]:
    """One header line, then one line per trial: fields (a confirmation run's
    ``candidate``; a confirmed candidate's runs, mean, spread and ``pick`` reason),
    ``params.*``, ``metrics.*``."""
    with db.read() as session:
        conf = confirmation(session, get_study(session, study_id))
        params = list(param_types(session, study_id))
        metrics = _metric_names(session, study_id)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*CSV_FIELDS, *(f"params.{p}" for p in params),
                         *(f"metrics.{m}" for m in metrics)])
        yield _drain(buffer)
        for batch in _batches(session, study_id):
            for r in batch:
                writer.writerow([
                    r.id, r.number, r.stage_index, r.state, r.origin, _cell(r.objective),
                    r.epochs, r.steps, r.attempt, _cell(r.reason), _cell(r.worker_name),
                    _iso(r.created_at), _iso(r.started_at), _iso(r.finished_at),
                    _cell(r.candidate_id), *_confirm_cells(conf, r.id),
                    *(_cell(r.params.get(p)) for p in params),
                    *(_cell(r.metrics.get(m)) for m in metrics),
                ])
            yield _drain(buffer)


def export_json(db: Database, study_id: int) -> Iterator[str]:
    """``{"study": {...}, "trials": [...]}``; each trial as in ``GET /trials/{id}``. The
    study carries its ``pick`` and each confirmed candidate's runs (``confirmed``)."""
    with db.read() as session:
        study = get_study(session, study_id)
        conf = confirmation(session, study)
        head = {
            "id": study.id, "name": study.name, "state": study.state,
            "dataset": study.dataset, "metric": study.metric,
            "direction": "maximize" if study.maximize else "minimize", "spec": study.spec,
            "pick": _pick(conf), "confirmed": _confirmed(conf),
        }
        yield '{"study": ' + json.dumps(head) + ', "trials": ['
        first = True
        for batch in _batches(session, study_id):
            reports = _reports(session, [r.id for r in batch])
            parts = [_detail(r, reports[r.id]).model_dump_json() for r in batch]
            yield ("" if first else ",") + "\n" + ",\n".join(parts)
            first = False
        yield "\n]}\n"
