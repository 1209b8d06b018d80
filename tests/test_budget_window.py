"""A budget stage is capped like a trial-count stage, and queues its trials in bounded
windows: no transaction inserts more than ``QUEUE_WINDOW`` trials, however big the budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from app.models import Trial
from app.services import stages
from tests.conftest import custom_spec

STUDIES = "/api/v1/studies"


def budget_study(client: Any, budget: int, epochs: int) -> int:
    spec = custom_spec()
    spec["stages"] = [{"budget": budget, "epochs": epochs}]
    r = client.post(STUDIES, json=spec)
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.mark.parametrize("plan", [
    {"stages": [{"budget": 10_000_000, "epochs": 1}]},
    {"stages": None, "budget": 10_000_000, "max_epochs": 1},
])
def test_a_budget_buying_more_trials_than_a_stage_holds_is_422(client, plan):
    r = client.post(STUDIES, json={**custom_spec(), **plan})
    assert r.status_code == 422, r.text
    assert "at most 100000 trials" in r.json()["detail"][0]["msg"]
    assert client.get(STUDIES).json()["total"] == 0


def test_a_refine_buying_more_trials_than_a_stage_holds_is_422(client):
    study = client.post(STUDIES, json=custom_spec(trials=2)).json()["id"]
    r = client.post(f"{STUDIES}/{study}/refine", json={"budget": 10_000_000, "epochs": 1})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "budget"]
    after = client.get(f"{STUDIES}/{study}").json()
    assert after["current_stage"] == 0 and len(after["stages"]) == 1
    assert after["counts"] == {"queued": 2}


@pytest.fixture
def rows_per_transaction() -> Iterator[list[int]]:
    """Trial rows each committed transaction inserted (one entry per commit that did)."""
    counts: list[int] = []
    pending: dict[int, int] = {}

    def on_execute(state: ORMExecuteState) -> None:
        table = getattr(state.statement, "table", None)
        if state.statement.is_insert and getattr(table, "name", None) == Trial.__tablename__:
            rows = state.parameters
            n = len(rows) if isinstance(rows, list) else 1
            pending[id(state.session)] = pending.get(id(state.session), 0) + n

    def on_commit(session: Session) -> None:
        n = pending.pop(id(session), 0)
        if n:
            counts.append(n)

    event.listen(Session, "do_orm_execute", on_execute)
    event.listen(Session, "after_commit", on_commit)
    yield counts
    event.remove(Session, "do_orm_execute", on_execute)
    event.remove(Session, "after_commit", on_commit)


def test_a_big_budget_is_queued_in_bounded_windows(client, monkeypatch, rows_per_transaction):
    monkeypatch.setattr(stages, "QUEUE_WINDOW", 10, raising=False)
    study = budget_study(client, budget=60, epochs=1)
    assert rows_per_transaction == [10]
    assert client.get(f"{STUDIES}/{study}").json()["counts"] == {"queued": 10}
    trained = 0
    while True:
        r = client.post("/api/v1/trials/claim", json={"worker": "w"})
        if r.status_code == 204:
            break
        task = r.json()
        token = task["lease_token"]
        url = f"/api/v1/trials/{task['id']}"
        client.post(f"{url}/report", json={"lease_token": token, "step": 1,
                                           "metrics": {"val_accuracy": 0.5}})
        r = client.post(f"{url}/finish", json={"lease_token": token, "state": "completed",
                                               "metrics": {"val_accuracy": 0.5}})
        assert r.status_code == 200, r.text
        trained += 1
        counts = client.get(f"{STUDIES}/{study}").json()["counts"]
        assert counts.get("queued", 0) <= 10
    stage = client.get(f"{STUDIES}/{study}").json()["stages"][0]
    assert trained == 60 and stage["epochs_spent"] == 60 and stage["state"] == "done"
    assert max(rows_per_transaction) <= 10 and sum(rows_per_transaction) == 60
    assert len(rows_per_transaction) > 5  # topped up as trials ended, not all at once


def test_a_budget_stage_never_samples_more_than_a_stage_holds(client, monkeypatch):
    monkeypatch.setattr(stages, "QUEUE_WINDOW", 10, raising=False)
    monkeypatch.setattr(stages, "MAX_STAGE_TRIALS", 12)
    study = budget_study(client, budget=40, epochs=1)
    failed = 0
    while (r := client.post("/api/v1/trials/claim", json={"worker": "w"})).status_code == 200:
        task = r.json()
        client.post(f"/api/v1/trials/{task['id']}/finish",
                    json={"lease_token": task["lease_token"], "state": "failed",
                          "reason": f"boom {failed}"})
        failed += 1
    assert failed == 12
    assert client.get(f"{STUDIES}/{study}").json()["stages"][0]["trials"] == 12
