"""GET /studies/{id}/points: columns for the charts, gzip-compressed, and incremental
(``since`` a cursor returns only what changed after it), on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
from typing import Any

from tests.conftest import custom_spec

SPACE = {
    "lr": {"type": "log_uniform", "low": 1e-5, "high": 1e-1},
    "act": {"type": "choice", "values": ["relu", "tanh"]},
}


def record(client: Any, study: int, results: list[tuple[float, str, float]]) -> None:
    items = [{"params": {"lr": lr, "act": act},
              "result": {"state": "completed", "metrics": {"val_accuracy": acc}}}
             for lr, act, acc in results]
    r = client.post(f"/api/v1/studies/{study}/trials", json={"trials": items})
    assert r.status_code == 201, r.text


def test_points_are_columns_of_every_trial(client):
    study = client.post("/api/v1/studies", json=custom_spec(trials=2, space=SPACE)).json()["id"]
    record(client, study, [(1e-3, "relu", 0.8), (1e-2, "tanh", 0.9)])
    data = client.get(f"/api/v1/studies/{study}/points").json()
    assert data["full"] is True
    assert len(data["trial_id"]) == 4 and data["trial_id"] == sorted(data["trial_id"])
    assert data["state"].count("queued") == 2 and data["state"].count("completed") == 2
    assert data["params"]["act"][-2:] == ["relu", "tanh"]
    assert data["params"]["lr"][-2:] == [1e-3, 1e-2]
    assert data["objective"][-2:] == [0.8, 0.9]
    assert all(t is not None for t in data["finished_ms"][-2:])
    assert data["finished_ms"][:2] == [None, None]


def test_since_a_cursor_sends_only_the_changed_and_the_unfinished(client, monkeypatch):
    from app.services import points

    study = client.post("/api/v1/studies", json=custom_spec(trials=1, space=SPACE)).json()["id"]
    record(client, study, [(1e-3, "relu", 0.5)] * 5)
    first = client.get(f"/api/v1/studies/{study}/points").json()
    monkeypatch.setattr(points, "OVERLAP_S", 0.0)  # no overlap: the delta is exact
    empty = client.get(f"/api/v1/studies/{study}/points",
                       params={"since": first["cursor"]}).json()
    assert empty["full"] is False
    assert empty["state"] == ["queued"]  # the unfinished trial is always sent
    assert empty["cursor"] >= first["cursor"]
    record(client, study, [(2e-3, "tanh", 0.7)])
    delta = client.get(f"/api/v1/studies/{study}/points",
                       params={"since": empty["cursor"]}).json()
    assert delta["state"] == ["queued", "completed"]
    assert delta["objective"] == [None, 0.7] and delta["params"]["act"][1] == "tanh"
    assert delta["trial_id"][1] not in first["trial_id"]


def test_the_overlap_sends_recent_finishes_again(client):
    study = client.post("/api/v1/studies", json=custom_spec(trials=1, space=SPACE)).json()["id"]
    record(client, study, [(1e-3, "relu", 0.5)] * 3)
    first = client.get(f"/api/v1/studies/{study}/points").json()
    again = client.get(f"/api/v1/studies/{study}/points",
                       params={"since": first["cursor"]}).json()
    assert again["trial_id"] == first["trial_id"]  # finished seconds ago: sent again


def test_points_are_gzip_compressed_when_asked(client):
    study = client.post("/api/v1/studies", json=custom_spec(trials=1, space=SPACE)).json()["id"]
    record(client, study, [(10 ** (-5 + i / 100), "relu", i / 500) for i in range(400)])
    r = client.get(f"/api/v1/studies/{study}/points", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert len(json.loads(r.content)["trial_id"]) == 401  # httpx decodes it
    raw = client.get(f"/api/v1/studies/{study}/points",
                     headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert len(gzip.compress(raw.content)) < len(raw.content) / 2


def test_a_bad_cursor_is_refused_naming_since(client):
    study = client.post("/api/v1/studies", json=custom_spec(trials=1, space=SPACE)).json()["id"]
    for bad in ("nan", "inf", "yesterday"):
        r = client.get(f"/api/v1/studies/{study}/points", params={"since": bad})
        assert r.status_code == 422 and "since" in r.text, (bad, r.text)
    assert client.get("/api/v1/studies/999999/points").status_code == 404


def test_curves_are_every_reported_objective_and_incremental(client, monkeypatch):
    from app.services import points

    study = client.post("/api/v1/studies", json=custom_spec(trials=2, space=SPACE)).json()["id"]
    assert client.get(f"/api/v1/studies/{study}/curves").json()["trial_id"] == []
    task = client.post("/api/v1/trials/claim", json={"worker": "w", "studies": [study]}).json()

    def report(step: int, acc: float) -> None:
        r = client.post(f"/api/v1/trials/{task['id']}/report", json={
            "lease_token": task["lease_token"], "step": step, "metrics": {"val_accuracy": acc}})
        assert r.status_code == 200, r.text

    report(1, 0.3)
    report(2, 0.5)
    first = client.get(f"/api/v1/studies/{study}/curves").json()
    assert first["trial_id"] == [task["id"]] * 2
    assert first["step"] == [1, 2] and first["value"] == [0.3, 0.5]
    monkeypatch.setattr(points, "OVERLAP_S", 0.0)
    report(3, 0.6)
    delta = client.get(f"/api/v1/studies/{study}/curves",
                       params={"since": first["cursor"]}).json()
    assert delta["full"] is False
    assert (delta["step"], delta["value"]) == ([3], [0.6])
    r = client.get(f"/api/v1/studies/{study}/curves", params={"since": "nan"})
    assert r.status_code == 422 and "since" in r.text


def test_booleans_and_choices_keep_their_json_type(client):
    space = {"bn": {"type": "choice", "values": [True, False]},
             "act": {"type": "choice", "values": ["relu", 1]}}
    study = client.post("/api/v1/studies", json=custom_spec(trials=1, space=space)).json()["id"]
    items = [{"params": {"bn": bn, "act": act},
              "result": {"state": "completed", "metrics": {"val_accuracy": 0.5}}}
             for bn, act in [(True, "relu"), (False, 1)]]
    assert client.post(f"/api/v1/studies/{study}/trials",
                       json={"trials": items}).status_code == 201
    data = client.get(f"/api/v1/studies/{study}/points").json()
    assert data["params"]["bn"][-2:] == [True, False]
    assert data["params"]["act"][-2:] == ["relu", 1]


def test_points_tell_stalled_from_diverged_trials(client):
    study = client.post("/api/v1/studies", json=custom_spec(trials=3, space=SPACE)).json()["id"]
    ids = {}
    for reason in ("stalled: loss 2.30 vs initial 2.30 after 3 epochs", "loss nan at step 3",
                   None):
        task = client.post("/api/v1/trials/claim", json={"worker": "w", "studies": [study]}).json()
        r = client.post(f"/api/v1/trials/{task['id']}/finish", json={
            "lease_token": task["lease_token"], "state": "aborted" if reason else "completed",
            "metrics": {"val_accuracy": 0.1}, "reason": reason})
        assert r.status_code == 200, r.text
        ids[reason] = task["id"]
    data = client.get(f"/api/v1/studies/{study}/points").json()
    assert data["stalled"] == [ids["stalled: loss 2.30 vs initial 2.30 after 3 epochs"]]
