"""Leaderboards: ranking by the objective, stable ties, filters, pagination and totals."""

from __future__ import annotations

from typing import Any

from tests.conftest import custom_spec


def record(client: Any, sid: int, results: list[tuple[dict, str, dict]]) -> None:
    r = client.post(f"/api/v1/studies/{sid}/trials", json={"trials": [
        {"params": p, "result": {"state": state, "metrics": m}} for p, state, m in results]})
    assert r.status_code == 201, r.text


def p(x: float) -> dict:
    return {"x": x, "lr": 1e-3}


def test_ranked_best_first_with_stable_ties(client):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    record(client, sid, [
        (p(0.1), "completed", {"val_accuracy": 0.5}),
        (p(0.2), "completed", {"val_accuracy": 0.9}),
        (p(0.3), "completed", {"val_accuracy": 0.9}),
        (p(0.4), "aborted", {"val_accuracy": 0.1}),
        (p(0.5), "failed", {}),
    ])
    board = client.get(f"/api/v1/studies/{sid}/leaderboard").json()
    assert board["metric"] == "val_accuracy" and board["direction"] == "maximize"
    assert [r["params"]["x"] for r in board["rows"]] == [0.2, 0.3, 0.1, 0.4]
    assert [r["rank"] for r in board["rows"]] == [1, 2, 3, 4]
    assert board["total"] == 4
    assert board["rows"][0]["metrics"] == {"val_accuracy": 0.9}


def test_minimize_ranks_lowest_first(client):
    spec = custom_spec(trials=1, objective={"metric": "val_loss", "direction": "minimize"})
    sid = client.post("/api/v1/studies", json=spec).json()["id"]
    record(client, sid, [(p(x), "completed", {"val_loss": x}) for x in (0.7, 0.2, 0.9)])
    rows = client.get(f"/api/v1/studies/{sid}/leaderboard").json()["rows"]
    assert [r["objective"] for r in rows] == [0.2, 0.7, 0.9]


def test_pagination_and_filters(client):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=3)).json()["id"]
    record(client, sid, [(p(i / 20), "completed", {"val_accuracy": i / 20}) for i in range(12)])
    page = client.get(f"/api/v1/studies/{sid}/leaderboard",
                      params={"limit": 5, "offset": 5}).json()
    assert page["total"] == 12 and [r["rank"] for r in page["rows"]] == [6, 7, 8, 9, 10]
    assert page["rows"][0]["objective"] == 6 / 20
    queued = client.get(f"/api/v1/studies/{sid}/leaderboard", params={"state": "queued"}).json()
    assert queued["total"] == 3 and all(r["objective"] is None for r in queued["rows"])
    stage1 = client.get(f"/api/v1/studies/{sid}/leaderboard", params={"stage": 1}).json()
    assert stage1["total"] == 0
    bad = client.get(f"/api/v1/studies/{sid}/leaderboard", params={"state": "weird"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "state"]
    bad = client.get(f"/api/v1/studies/{sid}/leaderboard", params={"limit": 0})
    assert bad.status_code == 422


def test_across_studies_filtered_by_study_and_dataset(client):
    a = client.post("/api/v1/studies", json=custom_spec(trials=1, name="a")).json()["id"]
    b = client.post("/api/v1/studies", json=custom_spec(trials=1, name="b")).json()["id"]
    record(client, a, [(p(0.1), "completed", {"val_accuracy": 0.4})])
    record(client, b, [(p(0.2), "completed", {"val_accuracy": 0.8})])
    board = client.get("/api/v1/leaderboard").json()
    assert [(r["study"], r["objective"]) for r in board["rows"]] == [("b", 0.8), ("a", 0.4)]
    only_a = client.get("/api/v1/leaderboard", params={"study": a}).json()
    assert [r["study_id"] for r in only_a["rows"]] == [a]
    none = client.get("/api/v1/leaderboard", params={"dataset": "digits"}).json()
    assert none["total"] == 0 and none["rows"] == []
    assert client.get("/api/v1/studies/999/leaderboard").status_code == 404
