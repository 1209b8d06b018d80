"""The trial lifecycle under lease: claim, heartbeat, report, finish, release, expiry."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import update

from app.models import Trial
from app.services.trials import expire_leases
from tests.conftest import custom_spec


def create(client: Any, **kw: Any) -> int:
    r = client.post("/api/v1/studies", json=custom_spec(**kw))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def claim(client: Any, worker: str = "w1", **kw: Any) -> dict | None:
    r = client.post("/api/v1/trials/claim", json={"worker": worker, **kw})
    if r.status_code == 204:
        return None
    assert r.status_code == 200, r.text
    return r.json()


def finish(client: Any, task: dict, state: str = "completed", **metrics: Any) -> Any:
    return client.post(f"/api/v1/trials/{task['id']}/finish", json={
        "lease_token": task["lease_token"], "state": state,
        "metrics": metrics or {"val_accuracy": 0.5}})


def seconds(stamp: str) -> float:
    """An API timestamp as Unix seconds, with a second of slack for rounding."""
    return datetime.fromisoformat(stamp).timestamp() + 1


def expire_now(client: Any, trial_id: int) -> None:
    """Move a lease's expiry into the past and run the sweep, as the server's sweeper does."""
    db = client.app.state.db
    with db.write() as s:
        past = time.time() - 1
        s.execute(update(Trial).where(Trial.id == trial_id).values(lease_expires_at=past))
    with db.write() as s:
        expire_leases(s, max_attempts=3)


def test_claim_gives_task_with_lease(client):
    sid = create(client, trials=2, epochs=4)
    task = claim(client)
    assert task["study_id"] == sid and task["stage"] == 0 and task["number"] == 0
    assert task["epochs"] == 4 and task["attempt"] == 1 and task["lease_token"]
    assert task["task"]["type"] == "custom" and set(task["params"]) == {"x", "lr"}
    assert task["metric"] == "val_accuracy" and task["direction"] == "maximize"
    second = claim(client)
    assert second["id"] != task["id"]
    assert claim(client) is None


def test_claim_can_be_limited_to_studies(client):
    a = create(client, trials=1)
    b = create(client, trials=1)
    task = claim(client, studies=[b])
    assert task["study_id"] == b
    assert claim(client, studies=[b]) is None
    assert claim(client, studies=[a])["study_id"] == a


def test_builtin_task_carries_the_early_abort_rule_as_its_own_field(client):
    from tests.conftest import builtin_spec

    spec = builtin_spec(early_abort={"loss_factor": 4.0, "stall_epochs": 2})
    assert client.post("/api/v1/studies", json=spec).status_code == 201
    task = claim(client)
    assert task["early_abort"] == {"enabled": True, "loss_factor": 4.0, "stall_epochs": 2}
    assert task["task"]["settings"] == {"hidden_size": 32}


def test_early_abort_defaults_travel_with_the_task(client):
    from tests.conftest import custom_spec

    assert client.post("/api/v1/studies", json=custom_spec()).status_code == 201
    assert claim(client)["early_abort"] == {"enabled": True, "loss_factor": 3.0,
                                            "stall_epochs": 3}


def test_disabled_early_abort_reaches_the_trainer_as_disabled(client):
    from hpsearch.lease import Task
    from tests.conftest import builtin_spec
    from worker.nn.config import config_from
    from worker.runner import trainer_settings

    spec = builtin_spec(early_abort={"enabled": False})
    assert client.post("/api/v1/studies", json=spec).status_code == 201
    task = Task.from_claim(claim(client))
    assert task.early_abort.enabled is False
    config = config_from(trainer_settings(task), epochs=task.epochs, seed=task.seed,
                         early_abort=task.early_abort.enabled)
    assert config.early_abort is False and config.loss_factor == 3.0


def test_report_is_idempotent_and_stored(client):
    create(client, trials=1)
    task = claim(client)
    url = f"/api/v1/trials/{task['id']}/report"
    body = {"lease_token": task["lease_token"], "step": 1, "metrics": {"val_accuracy": 0.3}}
    first = client.post(url, json=body)
    assert first.status_code == 200 and first.json()["should_stop"] is False
    again = client.post(url, json={**body, "metrics": {"val_accuracy": 0.99}})
    assert again.status_code == 200
    token = task["lease_token"]
    metrics = '{"val_accuracy": 0.4, "loss": Infinity}'
    raw = f'{{"lease_token": "{token}", "step": 2, "metrics": {metrics}}}'
    r = client.post(url, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    detail = client.get(f"/api/v1/trials/{task['id']}").json()
    curve = [(r["step"], r["metrics"]["val_accuracy"]) for r in detail["reports"]]
    assert curve == [(1, 0.3), (2, 0.4)]
    assert detail["reports"][1]["metrics"]["loss"] == "inf"
    assert detail["steps"] == 2


def test_report_and_heartbeat_extend_the_lease(client):
    create(client, trials=1)
    task = claim(client)
    lease_seconds = client.app.state.settings.lease_seconds
    with client.app.state.db.write() as s:  # a lease about to run out
        s.execute(update(Trial).values(lease_expires_at=time.time() + 1))
    sent = time.time()
    hb = client.post(f"/api/v1/trials/{task['id']}/heartbeat",
                     json={"lease_token": task["lease_token"]})
    assert hb.status_code == 200 and seconds(hb.json()["lease_expires_at"]) >= sent + lease_seconds
    with client.app.state.db.write() as s:
        s.execute(update(Trial).values(lease_expires_at=time.time() + 1))
    sent = time.time()
    r = client.post(f"/api/v1/trials/{task['id']}/report",
                    json={"lease_token": task["lease_token"], "step": 1, "metrics": {"x": 1}})
    assert r.status_code == 200 and seconds(r.json()["lease_expires_at"]) >= sent + lease_seconds


def test_wrong_token_gets_409_and_changes_nothing(client):
    create(client, trials=1)
    task = claim(client)
    tid = task["id"]
    for path, body in [
        ("heartbeat", {"lease_token": "nope"}),
        ("report", {"lease_token": "nope", "step": 1, "metrics": {"val_accuracy": 1}}),
        ("finish", {"lease_token": "nope", "state": "completed", "metrics": {"val_accuracy": 1}}),
        ("release", {"lease_token": "nope"}),
    ]:
        r = client.post(f"/api/v1/trials/{tid}/{path}", json=body)
        assert r.status_code == 409, (path, r.text)
    detail = client.get(f"/api/v1/trials/{tid}").json()
    assert detail["state"] == "running" and detail["reports"] == [] and detail["metrics"] == {}


def test_finish_records_objective_and_retry_is_idempotent(client):
    create(client, trials=1)
    task = claim(client)
    r = finish(client, task, val_accuracy=0.8, train_accuracy=0.9)
    assert r.status_code == 200 and r.json()["state"] == "completed"
    assert r.json()["objective"] == 0.8
    assert finish(client, task, val_accuracy=0.8).status_code == 200
    assert finish(client, task, "failed").status_code == 409
    report = client.post(f"/api/v1/trials/{task['id']}/report", json={
        "lease_token": task["lease_token"], "step": 9, "metrics": {}})
    assert report.status_code == 409


def test_expired_lease_requeues_and_old_token_gets_409(client):
    create(client, trials=1)
    first = claim(client, "w1")
    expire_now(client, first["id"])
    detail = client.get(f"/api/v1/trials/{first['id']}").json()
    assert detail["state"] == "queued" and "lease expired" in detail["reason"]
    second = claim(client, "w2")
    assert second["id"] == first["id"] and second["attempt"] == 2
    assert second["lease_token"] != first["lease_token"]
    stale = finish(client, first)
    assert stale.status_code == 409
    assert finish(client, second).status_code == 200


def test_claim_reaps_expired_leases_when_queue_is_empty(client):
    create(client, trials=1)
    first = claim(client, "w1")
    db = client.app.state.db
    with db.write() as s:
        s.execute(update(Trial).values(lease_expires_at=time.time() - 1))
    again = claim(client, "w2")
    assert again is not None and again["id"] == first["id"]


def test_lease_lost_past_max_attempts_fails_with_reason(client):
    create(client, trials=1, max_attempts=2)
    for _ in range(2):
        task = claim(client)
        expire_now(client, task["id"])
    detail = client.get(f"/api/v1/trials/{task['id']}").json()
    assert detail["state"] == "failed"
    assert "lease expired 2 times" in detail["reason"]
    assert claim(client) is None


def test_release_requeues_without_counting_an_attempt(client):
    create(client, trials=1)
    task = claim(client)
    client.post(f"/api/v1/trials/{task['id']}/report", json={
        "lease_token": task["lease_token"], "step": 1, "metrics": {"val_accuracy": 0.1}})
    r = client.post(f"/api/v1/trials/{task['id']}/release",
                    json={"lease_token": task["lease_token"], "reason": "SIGTERM"})
    assert r.status_code == 200 and r.json()["state"] == "queued"
    again = claim(client)
    assert again["id"] == task["id"] and again["attempt"] == 1
    assert client.get(f"/api/v1/trials/{task['id']}").json()["reports"] == []


def test_same_failure_in_a_row_pauses_the_study(client):
    sid = create(client, trials=6)
    for _ in range(5):
        task = claim(client)
        client.post(f"/api/v1/trials/{task['id']}/finish", json={
            "lease_token": task["lease_token"], "state": "failed",
            "reason": "dataset npz:/data/x.npz: file not found\nTraceback ..."})
    study = client.get(f"/api/v1/studies/{sid}").json()
    assert study["state"] == "paused"
    assert "file not found" in study["state_reason"]
    assert claim(client) is None


def test_different_failures_do_not_pause(client):
    sid = create(client, trials=6)
    for i in range(5):
        task = claim(client)
        client.post(f"/api/v1/trials/{task['id']}/finish", json={
            "lease_token": task["lease_token"], "state": "failed", "reason": f"error {i}"})
    assert client.get(f"/api/v1/studies/{sid}").json()["state"] == "running"


def test_last_trial_of_stage_opens_next_stage(client):
    spec_stages = [{"trials": 3, "epochs": 1}, {"trials": 2, "epochs": 5}]
    sid = create(client, stages=spec_stages)
    for _ in range(3):
        task = claim(client)
        assert task["stage"] == 0
        finish(client, task, val_accuracy=task["params"]["x"])
    study = client.get(f"/api/v1/studies/{sid}").json()
    assert [s["state"] for s in study["stages"]] == ["done", "open"]
    nxt = study["stages"][1]
    assert nxt["epochs"] == 5 and nxt["trials"] == 2 and len(nxt["source_trial_ids"]) == 3
    task = claim(client)
    assert task["stage"] == 1 and task["epochs"] == 5
    finish(client, task)
    finish(client, claim(client))
    study = client.get(f"/api/v1/studies/{sid}").json()
    assert study["state"] == "completed"
    assert [s["state"] for s in study["stages"]] == ["done", "done"]


def test_unknown_trial_is_404(client):
    assert client.get("/api/v1/trials/12345").status_code == 404
    r = client.post("/api/v1/trials/12345/heartbeat", json={"lease_token": "x"})
    assert r.status_code == 404


def test_bad_bodies_are_422_naming_the_field(client):
    r = client.post("/api/v1/trials/claim", json={})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "worker"]
    create(client, trials=1)
    task = claim(client)
    r = client.post(f"/api/v1/trials/{task['id']}/finish",
                    json={"lease_token": task["lease_token"], "state": "exploded"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "state"]
    r = client.post(f"/api/v1/trials/{task['id']}/report",
                    json={"lease_token": task["lease_token"], "step": -1, "metrics": {}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "step"]


def test_workers_register_and_show_current_trial(client):
    r = client.post("/api/v1/workers/register", json={
        "name": "node1-1", "host": "node1", "pid": 42, "processes": 2, "version": "0.1.0"})
    assert r.status_code == 200
    create(client, trials=1)
    task = claim(client, "node1-1")
    workers = client.get("/api/v1/workers").json()
    assert workers[0]["name"] == "node1-1" and workers[0]["current_trial_id"] == task["id"]
    finish(client, task)
    assert client.get("/api/v1/workers").json()[0]["current_trial_id"] is None


def test_an_empty_claim_says_whether_work_can_still_come(client):
    spec = custom_spec(stages=[{"trials": 2, "epochs": 1}, {"trials": 1, "epochs": 1}])
    sid = client.post("/api/v1/studies", json=spec).json()["id"]
    other = create(client)
    tasks = [claim(client, studies=[sid]) for _ in range(2)]
    r = client.post("/api/v1/trials/claim", json={"worker": "w2", "studies": [sid]})
    assert r.status_code == 204
    assert r.headers["Hpsearch-Running"] == "2" and r.headers["Retry-After"] == "1"
    r = client.post("/api/v1/trials/claim", json={"worker": "w2", "studies": [other]})
    assert r.status_code == 200  # the other study's queue is served as usual
    r = client.post("/api/v1/trials/claim", json={"worker": "w2", "studies": [sid + 1000]})
    assert r.headers["Hpsearch-Running"] == "0" and "Retry-After" not in r.headers
    for task in tasks:
        assert finish(client, task, val_accuracy=0.5).status_code == 200
    last = claim(client, studies=[sid])
    assert last is not None and last["stage"] == 1
    assert finish(client, last, val_accuracy=0.5).status_code == 200
    r = client.post("/api/v1/trials/claim", json={"worker": "w2", "studies": [sid]})
    assert r.status_code == 204 and r.headers["Hpsearch-Running"] == "0"


def test_a_paused_study_does_not_keep_workers_waiting(client):
    sid = create(client)
    claim(client, studies=[sid])
    assert client.post(f"/api/v1/studies/{sid}/pause").status_code == 200
    r = client.post("/api/v1/trials/claim", json={"worker": "w2", "studies": [sid]})
    assert r.status_code == 204 and r.headers["Hpsearch-Running"] == "0"
