"""The worker endpoints' lean request path: same documentation, wire format, auth and
pruning as before; and the leaderboard total taken from a short page."""

from __future__ import annotations

from typing import Any

import pytest

from app.schemas import LeaseOut, ReportOut, TrialOut, TrialTask
from tests.conftest import custom_spec

WORKER_ROUTES = {
    "/api/v1/trials/{trial_id}/heartbeat": "LeaseOut",
    "/api/v1/trials/{trial_id}/report": "ReportOut",
    "/api/v1/trials/{trial_id}/finish": "TrialOut",
    "/api/v1/trials/{trial_id}/release": "TrialOut",
}


def claim(client: Any, **body: Any) -> dict[str, Any]:
    r = client.post("/api/v1/trials/claim", json={"worker": "w", **body})
    assert r.status_code == 200, r.text
    return r.json()


def test_openapi_documents_the_models_and_no_extra_parameters(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, model in WORKER_ROUTES.items():
        op = paths[path]["post"]
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}
        assert [p["name"] for p in op["parameters"]] == ["trial_id"]
    op = paths["/api/v1/trials/claim"]["post"]
    assert "parameters" not in op
    assert set(op["responses"]) == {"200", "204", "401", "403", "413", "422", "503"}
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/TrialTask"}


def test_bodies_are_the_models_json(client):
    client.post("/api/v1/studies", json=custom_spec(trials=2, epochs=3))
    task = claim(client)
    assert task == TrialTask.model_validate(task).model_dump(mode="json")
    tid, token = task["id"], task["lease_token"]
    base = f"/api/v1/trials/{tid}"
    r = client.post(f"{base}/heartbeat", json={"lease_token": token})
    assert r.headers["content-type"] == "application/json"
    assert r.content == LeaseOut.model_validate_json(r.content).model_dump_json().encode()
    r = client.post(f"{base}/report", json={"lease_token": token, "step": 1,
                                            "metrics": {"val_accuracy": 0.5}})
    assert r.content == ReportOut.model_validate_json(r.content).model_dump_json().encode()
    r = client.post(f"{base}/finish", json={"lease_token": token, "state": "completed",
                                            "metrics": {"val_accuracy": 0.5}})
    out = TrialOut.model_validate_json(r.content)
    assert r.content == out.model_dump_json().encode() and out.state == "completed"
    other = claim(client)
    r = client.post(f"/api/v1/trials/{other['id']}/release",
                    json={"lease_token": other["lease_token"]})
    assert TrialOut.model_validate_json(r.content).state == "queued"


@pytest.mark.parametrize("path", ["/api/v1/trials/claim", *WORKER_ROUTES])
def test_worker_endpoints_keep_their_auth_errors(client, path):
    url = path.replace("{trial_id}", "1")
    admin = client.post("/api/v1/tokens", json={"role": "admin"}).json()["token"]
    auth = {"Authorization": f"Bearer {admin}"}
    read = client.post("/api/v1/tokens", json={"role": "read"}, headers=auth).json()["token"]
    r = client.post(url, json={})  # auth is checked before the body
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"detail": "this server requires a bearer token (Authorization: Bearer ...)"}
    r = client.post(url, json={}, headers={"Authorization": "Bearer hps_nope"})
    assert r.status_code == 401 and r.json() == {"detail": "invalid or revoked token"}
    r = client.post(url, json={}, headers={"Authorization": f"Bearer {read}"})
    assert r.status_code == 403
    assert r.json() == {"detail": "a read token may not work; needs one of: admin, worker"}
    r = client.post(url, json={}, headers=auth)
    assert r.status_code == 422


def test_median_pruning_queries_peers_only_when_it_judges(client):
    stage = {"trials": 5, "epochs": 3, "pruning": {"rule": "median", "min_trials": 3}}
    client.post("/api/v1/studies", json=custom_spec(stages=[stage]))
    tasks = [claim(client) for _ in range(5)]

    def report(task: dict[str, Any], step: int, value: float) -> bool:
        r = client.post(f"/api/v1/trials/{task['id']}/report", json={
            "lease_token": task["lease_token"], "step": step, "metrics": {"val_accuracy": value}})
        assert r.status_code == 200, r.text
        return r.json()["should_stop"]

    assert [report(t, 1, v) for t, v in zip(tasks[:3], (0.5, 0.6, 0.7), strict=True)] == [False] * 3
    assert report(tasks[3], 1, 0.1) is True  # below the median of three peers
    assert report(tasks[4], 1, 0.9) is False
    assert report(tasks[3], 3, 0.0) is False  # never at the last epoch


def test_leaderboard_total_from_short_pages_matches_the_count(client):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    trials = [{"params": {"x": i / 10, "lr": 1e-3},
               "result": {"state": "completed", "metrics": {"val_accuracy": i / 10}}}
              for i in range(7)]
    assert client.post(f"/api/v1/studies/{sid}/trials", json={"trials": trials}).status_code == 201
    url = f"/api/v1/studies/{sid}/leaderboard"
    for limit, offset in [(50, 0), (5, 0), (5, 5), (7, 0), (3, 6), (5, 7), (5, 20)]:
        page = client.get(url, params={"limit": limit, "offset": offset}).json()
        assert page["total"] == 7, (limit, offset)
        assert len(page["rows"]) == max(0, min(limit, 7 - offset))
    assert client.get(url, params={"state": "queued"}).json()["total"] == 1
    assert client.get(url, params={"stage": 3}).json()["total"] == 0
