"""Worker registry: who is pulling trials, from where, and what they hold now."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Worker
from app.schemas import WorkerRegister


def register(session: Session, info: WorkerRegister) -> Worker:
    """Create or refresh the worker named ``info.name``."""
    now = time.time()
    worker = session.scalar(select(Worker).where(Worker.name == info.name))
    if worker is None:
        worker = Worker(name=info.name, registered_at=now)
        session.add(worker)
    worker.host = info.host
    worker.pid = info.pid
    worker.processes = info.processes
    worker.version = info.version
    worker.last_seen_at = now
    worker.current_trial_id = None
    session.flush()
    return worker


def list_workers(session: Session) -> list[Worker]:
    return list(session.scalars(select(Worker).order_by(Worker.last_seen_at.desc())))
