"""Coarse-to-fine through the API: automatic stages, manual refine, warnings."""

from __future__ import annotations

from typing import Any

from tests.conftest import builtin_spec, custom_spec


def record(client: Any, sid: int, points: list[tuple[float, float, str, float | None]]) -> None:
    trials = []
    for lr, x, state, acc in points:
        metrics = {} if acc is None else {"val_accuracy": acc}
        trials.append({"params": {"lr": lr, "x": x},
                       "result": {"state": state, "metrics": metrics}})
    r = client.post(f"/api/v1/studies/{sid}/trials", json={"trials": trials})
    assert r.status_code == 201, r.text


def test_manual_refine_narrows_around_winners_in_log_space(client):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    # winners sit at lr 1e-4..1e-3, losers elsewhere in [1e-5, 1e-1]
    good = [(10 ** (-4 + i / 9), 0.5, "completed", 0.9 + i / 1000) for i in range(10)]
    bad = [(10 ** (-5 + 4 * i / 39), 0.5, "completed", 0.1) for i in range(40)]
    record(client, sid, good + bad)
    r = client.post(f"/api/v1/studies/{sid}/refine", json={"trials": 6, "epochs": 9})
    assert r.status_code == 201, r.text
    stage = r.json()
    assert stage["index"] == 1 and stage["trials"] == 6 and stage["epochs"] == 9
    lr = stage["space"]["lr"]
    assert lr["type"] == "log_uniform"
    assert 1e-5 <= lr["low"] <= 1e-4 and 1e-3 <= lr["high"] < 1e-2
    assert stage["policy"]["top_k"] > 0 and len(stage["source_trial_ids"]) == 50
    study = client.get(f"/api/v1/studies/{sid}").json()
    assert [s["state"] for s in study["stages"]] == ["done", "open"]
    assert study["counts"]["queued"] == 1 + 6  # the unfinished stage-0 trial stays queued


def test_refine_with_expand_moves_past_the_upper_edge(client):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    top = [(10 ** (-1.05 + i / 100), 0.5, "completed", 0.95) for i in range(5)]
    rest = [(10 ** (-5 + 3 * i / 29), 0.5, "completed", 0.2) for i in range(30)]
    record(client, sid, top + rest)
    r = client.post(f"/api/v1/studies/{sid}/refine",
                    json={"policy": {"on_edge": "expand"}, "trials": 4})
    assert r.status_code == 201, r.text
    assert r.json()["space"]["lr"]["high"] > 1e-1
    warnings = client.get(f"/api/v1/studies/{sid}/warnings").json()
    edge = [w for w in warnings if w["kind"] == "edge" and w["param"] == "lr"]
    assert edge and edge[0]["side"] == "upper"
    assert "upper edge" in edge[0]["message"]


def test_all_diverged_stage_does_not_narrow_and_says_so(client):
    spec = custom_spec(stages=[{"trials": 1, "epochs": 1}, {"trials": 2, "epochs": 2}])
    sid = client.post("/api/v1/studies", json=spec).json()["id"]
    record(client, sid, [(10 ** (-5 + i / 3), 0.5, "aborted", None) for i in range(12)])
    r = client.post(f"/api/v1/studies/{sid}/refine", json={})
    assert r.status_code == 201
    assert r.json()["space"]["lr"] == {"type": "log_uniform", "low": 1e-5, "high": 1e-1}
    kinds = {w["kind"] for w in client.get(f"/api/v1/studies/{sid}/warnings").json()}
    assert "no_completed" in kinds


def test_refine_policy_is_validated(client):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    r = client.post(f"/api/v1/studies/{sid}/refine", json={"policy": {"top_k": -1}})
    assert r.status_code == 422 and "top_k" in str(r.json()["detail"])
    r = client.post(f"/api/v1/studies/{sid}/refine", json={"policy": {"colour": "red"}})
    assert r.status_code == 422
    assert client.post("/api/v1/studies/999/refine", json={}).status_code == 404


def test_refining_a_closed_stage_by_hand_does_not_repeat_its_warnings(client):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=5)).json()["id"]
    for i in range(5):  # the seeded draws put the best lr at the upper edge
        task = client.post("/api/v1/trials/claim", json={"worker": "w", "studies": [sid]}).json()
        r = client.post(f"/api/v1/trials/{task['id']}/finish", json={
            "lease_token": task["lease_token"], "state": "completed",
            "metrics": {"val_accuracy": 0.9 - i / 10}})
        assert r.status_code == 200, r.text
    before = client.get(f"/api/v1/studies/{sid}/warnings").json()
    assert client.get(f"/api/v1/studies/{sid}").json()["state"] == "completed"
    assert before and all(w["stage"] == 0 for w in before)
    assert client.post(f"/api/v1/studies/{sid}/refine", json={}).status_code == 201
    after = client.get(f"/api/v1/studies/{sid}/warnings").json()
    assert [(w["stage"], w["message"]) for w in after] == [
        (w["stage"], w["message"]) for w in before]
def test_an_edge_the_plan_kept_is_warned_once_not_every_stage(client):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    top = [(10 ** (-1.05 + i / 100), 0.5, "completed", 0.95) for i in range(5)]
    rest = [(10 ** (-5 + 3 * i / 29), 0.5, "completed", 0.2) for i in range(30)]
    record(client, sid, top + rest)
    first = client.post(f"/api/v1/studies/{sid}/refine", json={"trials": 1}).json()
    assert first["space"]["lr"]["high"] == 1e-1  # narrowed, but the upper bound kept
    low = first["space"]["lr"]["low"]
    again = [(10 ** (-1.02 + i / 200), 0.5, "completed", 0.96) for i in range(4)]
    again += [(low * 1.5 ** i, 0.5, "completed", 0.3) for i in range(12)]
    record(client, sid, again)
    r = client.post(f"/api/v1/studies/{sid}/refine", json={"trials": 1})
    assert r.status_code == 201, r.text
    warnings = client.get(f"/api/v1/studies/{sid}/warnings").json()
    upper = [w for w in warnings if (w["kind"], w["param"], w["side"]) == ("edge", "lr", "upper")]
    assert len(upper) == 1 and upper[0]["stage"] == 0


def test_dropout_at_zero_is_a_hard_limit_of_the_builtin_trainer(client):
    spec = builtin_spec(trials=1)
    spec["space"]["dropout"] = {"type": "uniform", "low": 0.0, "high": 0.5}
    sid = client.post("/api/v1/studies", json=spec).json()["id"]
    trials = [
        {"params": {"learning_rate": 1e-2, "reg": 1e-4, "dropout": d},
         "result": {"state": "completed", "metrics": {"val_accuracy": acc}}}
        for d, acc in [(0.0, 0.95), (0.01, 0.94), (0.02, 0.93)]
        + [(0.1 + i / 25, 0.3) for i in range(9)]
    ]
    r = client.post(f"/api/v1/studies/{sid}/trials", json={"trials": trials})
    assert r.status_code == 201, r.text
    r = client.post(f"/api/v1/studies/{sid}/refine",
                    json={"policy": {"on_edge": "expand", "top_k": 3}, "trials": 2})
    assert r.status_code == 201, r.text
    assert r.json()["space"]["dropout"]["low"] == 0.0
    edge = [w for w in client.get(f"/api/v1/studies/{sid}/warnings").json()
            if w["param"] == "dropout"]
    assert edge and "hard limit" in edge[0]["message"]
