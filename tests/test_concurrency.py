"""Races against a real database: no trial is handed out twice, a stage opens once."""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import httpx
import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.main import prepare_database
from app.models import Stage, Trial
from app.schemas import StudySpec
from app.services import studies, trials
from tests.conftest import ServerProcess, custom_spec

N_PROCESSES = 8
N_TRIALS = 200


def claim_until_empty(server_url: str, worker: str) -> list[int]:
    """Claim and finish trials until the queue is empty; return the ids claimed."""
    claimed: list[int] = []
    with httpx.Client(base_url=server_url, timeout=60) as http:
        while True:
            r = http.post("/api/v1/trials/claim", json={"worker": worker})
            if r.status_code == 204:
                return claimed
            r.raise_for_status()
            task = r.json()
            claimed.append(task["id"])
            done = http.post(f"/api/v1/trials/{task['id']}/finish", json={
                "lease_token": task["lease_token"], "state": "completed",
                "metrics": {"val_accuracy": task["params"]["x"]}})
            done.raise_for_status()


@pytest.mark.slow
def test_eight_processes_two_servers_claim_each_trial_once(database_url):
    servers = [ServerProcess(database_url).start()]
    servers.append(ServerProcess(database_url).start())
    try:
        r = httpx.post(servers[0].url + "/api/v1/studies",
                       json=custom_spec(trials=N_TRIALS), timeout=60)
        assert r.status_code == 201, r.text
        with ProcessPoolExecutor(N_PROCESSES, mp_context=get_context("spawn")) as pool:
            futures = [
                pool.submit(claim_until_empty, servers[i % 2].url, f"racer-{i}")
                for i in range(N_PROCESSES)
            ]
            per_worker = [f.result(timeout=300) for f in futures]
    finally:
        for s in servers:
            s.stop()
    claimed = [tid for ids in per_worker for tid in ids]
    assert len(claimed) == N_TRIALS
    assert len(set(claimed)) == N_TRIALS
    assert sum(1 for ids in per_worker if ids) > 1  # the work was really shared
    db = Database(database_url)
    with db.read() as s:
        states = dict(s.execute(select(Trial.state, func.count()).group_by(Trial.state)).all())
        attempts = set(s.scalars(select(Trial.attempt)))
    db.dispose()
    assert states == {"completed": N_TRIALS}
    assert attempts == {1}


def claim_and_finish_two_together(db: Database, study_id: int) -> None:
    """Claim two trials, then finish both from two threads released at the same moment."""
    tasks = []
    for _ in range(2):
        with db.write() as s:
            t = trials.claim(s, worker="w", studies=[study_id], lease_seconds=60, max_attempts=3)
            tasks.append((t.id, t.lease_token))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def finish(trial_id: int, token: str) -> None:
        try:
            barrier.wait()
            with db.write() as s:
                trials.finish(s, trial_id, token=token, state="completed",
                              metrics={"val_accuracy": 0.5}, reason=None, failure_streak=5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=t) for t in tasks]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors


def queued_in(db: Database, study_id: int) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(Trial).where(
            Trial.study_id == study_id, Trial.state == "queued")) or 0


def test_last_two_trials_finishing_together_open_one_stage(database_url):
    """Two finishers of a stage's last trials race; exactly one opens the next stage."""
    db = Database(database_url)
    prepare_database(db, Settings(database_url=database_url))
    spec = StudySpec.model_validate(
        custom_spec(stages=[{"trials": 2, "epochs": 1}, {"trials": 3, "epochs": 2}]))
    for _ in range(5):  # repeat: a race lost once is not proof
        with db.write() as s:
            study_id = studies.create_study(s, spec, max_attempts=3).id
        claim_and_finish_two_together(db, study_id)
        with db.read() as s:
            stages = s.execute(
                select(Stage.index, Stage.state).where(Stage.study_id == study_id)
                .order_by(Stage.index)
            ).all()
        assert [tuple(r) for r in stages] == [(0, "done"), (1, "open")]
        assert queued_in(db, study_id) == 3
    db.dispose()


def test_two_trials_ending_together_top_up_a_budget_stage_once(database_url):
    """Budget 5, 2 epochs a trial: two trials end at once with a queue left empty; the
    first finisher buys one more trial (1 spent + 2 reserved), the second sees it queued."""
    db = Database(database_url)
    prepare_database(db, Settings(database_url=database_url))
    spec = StudySpec.model_validate(custom_spec(
        stages=[{"budget": 5, "epochs": 2, "pruning": {"rule": "none"}}]))
    for _ in range(5):
        with db.write() as s:
            study_id = studies.create_study(s, spec, max_attempts=3).id
        claim_and_finish_two_together(db, study_id)
        with db.read() as s:
            n_trials = s.scalar(select(Stage.n_trials).where(Stage.study_id == study_id))
        assert (n_trials, queued_in(db, study_id)) == (3, 1)
    db.dispose()
