"""Workers register themselves and show up with their last heartbeat and current trial."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import convert
from app.deps import CanRead, CanWork, DbDep
from app.schemas import WorkerOut, WorkerRegister
from app.services import workers

router = APIRouter(prefix="/workers", tags=["workers"])


@router.post("/register", dependencies=[CanWork])
def register(body: WorkerRegister, db: DbDep) -> WorkerOut:
    with db.write() as session:
        return convert.worker_out(workers.register(session, body))


@router.get("", dependencies=[CanRead])
def list_workers(db: DbDep) -> list[WorkerOut]:
    with db.read() as session:
        return [convert.worker_out(w) for w in workers.list_workers(session)]
