"""Studies over REST: creation, validation (422 naming the field), state changes, enqueue."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.conftest import builtin_spec, custom_spec


def error_text(response: Any) -> str:
    return str(response.json()["detail"])


def test_create_queues_first_stage_with_sampled_params(client):
    r = client.post("/api/v1/studies", json=custom_spec(trials=7))
    assert r.status_code == 201, r.text
    study = r.json()
    assert study["counts"] == {"queued": 7}
    assert study["stages"][0]["index"] == 0 and study["stages"][0]["trials"] == 7
    board = client.get(f"/api/v1/studies/{study['id']}/leaderboard", params={"state": "queued"})
    rows = board.json()["rows"]
    assert sorted(r["number"] for r in rows) == list(range(7))
    for row in rows:
        assert 1e-5 <= row["params"]["lr"] <= 1e-1
        assert 0 <= row["params"]["x"] <= 1


def test_same_seed_samples_the_same_params(client):
    a = client.post("/api/v1/studies", json=custom_spec(trials=4)).json()["id"]
    b = client.post("/api/v1/studies", json=custom_spec(trials=4)).json()["id"]

    def params(study_id: int) -> list[dict]:
        rows = client.get(f"/api/v1/studies/{study_id}/leaderboard",
                          params={"state": "queued"}).json()["rows"]
        return [r["params"] for r in sorted(rows, key=lambda r: r["number"])]

    assert params(a) == params(b)


def test_log_uniform_samples_spread_over_decades(client):
    spec = custom_spec(trials=200)
    study = client.post("/api/v1/studies", json=spec).json()
    rows = client.get(f"/api/v1/studies/{study['id']}/leaderboard",
                      params={"state": "queued", "limit": 200}).json()["rows"]
    decades = {math.floor(math.log10(r["params"]["lr"])) for r in rows}
    assert decades == {-5, -4, -3, -2}


@pytest.mark.parametrize(
    ("space", "needle"),
    [
        ({"lr": {"type": "log_uniform", "low": 1e-2, "high": 1e-3}}, "low must be < high"),
        ({"lr": {"type": "uniform", "low": 1.0, "high": 1.0}}, "low must be < high"),
        ({"lr": {"type": "log_uniform", "low": 0, "high": 1}}, "cannot touch 0"),
        ({"lr": {"type": "log_uniform", "low": -6, "high": -1}}, "not exponents"),
        ({"lr": {"type": "int", "low": 0, "high": 9, "log": True}}, "low >= 1"),
        ({"lr": {"type": "uniform", "low": 0, "high": "Infinity"}}, "finite"),
        ({"lr": {"type": "uniform", "low": "NaN", "high": 1}}, "finite"),
        ({"act": {"type": "choice", "values": []}}, "at least one value"),
        ({"act": {"type": "choice", "values": ["relu", "relu"]}}, "unique"),
        ({"lr": {"type": "gaussian", "low": 0, "high": 1}}, "does not match any of the expected"),
        ({f"p{i}": {"type": "fixed", "value": i} for i in range(65)}, "at most 64"),
        ({"bad name": {"type": "fixed", "value": 1}}, "must be an identifier"),
    ],
)
def test_bad_space_is_refused_with_422(client, space, needle):
    r = client.post("/api/v1/studies", json=custom_spec(space=space))
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert any(needle in str(e["msg"]) for e in detail), detail
    assert all("space" in e["loc"] for e in detail), detail


def test_unknown_trainer_parameter_is_refused(client):
    spec = builtin_spec(space={"learnin_rate": {"type": "log_uniform", "low": 1e-4, "high": 1}})
    r = client.post("/api/v1/studies", json=spec)
    assert r.status_code == 422
    assert "learnin_rate" in error_text(r) and "no parameter" in error_text(r)
    # the same name is fine for a custom objective
    ok = client.post("/api/v1/studies", json=custom_spec(
        space={"learnin_rate": {"type": "log_uniform", "low": 1e-4, "high": 1}}))
    assert ok.status_code == 201


def test_trainer_value_out_of_its_domain_is_refused(client):
    spec = builtin_spec(space={"activation": {"type": "choice", "values": ["relu", "swish"]}})
    r = client.post("/api/v1/studies", json=spec)
    assert r.status_code == 422
    assert "space.activation" in error_text(r) and "swish" in error_text(r)


BATCH_ONE = {"type": "int", "low": 1, "high": 64}


@pytest.mark.parametrize(
    ("fixed", "space"),
    [
        ({"batchnorm": True, "batch_size": 1}, {}),
        ({"batchnorm": True}, {"batch_size": BATCH_ONE}),
        ({"batch_size": 1}, {"batchnorm": {"type": "choice", "values": [False, True]}}),
        ({}, {"batchnorm": {"type": "choice", "values": [False, True]}, "batch_size": BATCH_ONE}),
    ],
)
def test_batchnorm_with_batches_of_one_is_refused(client, fixed, space):
    spec = builtin_spec(task={"dataset": "digits", "settings": fixed})
    spec["space"] = {**spec["space"], **space}
    r = client.post("/api/v1/studies", json=spec)
    assert r.status_code == 422, r.text
    assert "'batchnorm' needs 'batch_size' >= 2" in error_text(r)
    assert client.get("/api/v1/studies").json()["total"] == 0


def test_batchnorm_with_batches_of_two_is_accepted(client):
    spec = builtin_spec(task={"dataset": "digits", "settings": {"batchnorm": True}})
    spec["space"]["batch_size"] = {"type": "int", "low": 2, "high": 64}
    assert client.post("/api/v1/studies", json=spec).status_code == 201


def test_bad_dataset_and_stage_plan_are_refused(client):
    r = client.post("/api/v1/studies", json=builtin_spec(task={"dataset": "imagenet"}))
    assert r.status_code == 422 and "imagenet" in error_text(r)
    r = client.post("/api/v1/studies", json=custom_spec(stages=[]))
    assert r.status_code == 422 and "stages" in error_text(r)
    r = client.post("/api/v1/studies", json=custom_spec(stages=[{"trials": 0, "epochs": 1}]))
    assert r.status_code == 422 and "trials" in error_text(r)


def test_wide_uniform_range_is_accepted_with_a_warning(client):
    spec = custom_spec(space={"lr": {"type": "uniform", "low": 1e-6, "high": 1e-1}})
    r = client.post("/api/v1/studies", json=spec)
    assert r.status_code == 201
    study = r.json()
    assert any("did you mean log_uniform?" in w for w in study["space_warnings"])
    warnings = client.get(f"/api/v1/studies/{study['id']}/warnings").json()
    assert any("did you mean log_uniform?" in w["message"] for w in warnings)


def test_pause_resume_cancel(client):
    study = client.post("/api/v1/studies", json=custom_spec(trials=3)).json()
    sid = study["id"]
    assert client.post(f"/api/v1/studies/{sid}/pause").json()["state"] == "paused"
    assert client.post("/api/v1/trials/claim", json={"worker": "w"}).status_code == 204
    assert client.post(f"/api/v1/studies/{sid}/pause").status_code == 409
    assert client.post(f"/api/v1/studies/{sid}/resume").json()["state"] == "running"
    task = client.post("/api/v1/trials/claim", json={"worker": "w"}).json()
    client.post(f"/api/v1/trials/{task['id']}/finish",
                json={"lease_token": task["lease_token"], "state": "completed",
                      "metrics": {"val_accuracy": 0.5}})
    cancelled = client.post(f"/api/v1/studies/{sid}/cancel").json()
    assert cancelled["state"] == "cancelled"
    assert cancelled["counts"] == {"completed": 1, "failed": 2}
    assert client.post("/api/v1/trials/claim", json={"worker": "w"}).status_code == 204
    assert client.post(f"/api/v1/studies/{sid}/resume").status_code == 409


def test_unknown_study_is_404(client):
    assert client.get("/api/v1/studies/999").status_code == 404
    assert client.post("/api/v1/studies/999/pause").status_code == 404


def test_enqueue_given_params_and_record_external_result(client):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    r = client.post(f"/api/v1/studies/{sid}/trials", json={"trials": [
        {"params": {"x": 0.5, "lr": 1e-3}},
        {"params": {"x": 0.25, "lr": 1e-2},
         "result": {"state": "completed", "metrics": {"val_accuracy": 0.9}}},
    ]})
    assert r.status_code == 201, r.text
    assert r.json()["numbers"] == [1, 2]
    board = client.get(f"/api/v1/studies/{sid}/leaderboard").json()
    assert board["rows"][0]["params"] == {"x": 0.25, "lr": 1e-2}
    assert board["rows"][0]["objective"] == 0.9
    counts = client.get(f"/api/v1/studies/{sid}").json()["counts"]
    assert counts == {"queued": 2, "completed": 1}


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"x": 0.5}, "lr: missing"),
        ({"x": 2.0, "lr": 1e-3}, "x: 2.0 is outside [0, 1]"),
        ({"x": 0.5, "lr": 1e-3, "y": 1}, "y: not in the search space"),
        ({"x": 0.5, "lr": -3}, "lr: -3 is outside log"),
    ],
)
def test_enqueue_validates_params_against_the_space(client, params, needle):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    r = client.post(f"/api/v1/studies/{sid}/trials", json={"trials": [{"params": params}]})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert needle in error["msg"] and error["loc"] == ["body", "trials", 0, "params"]


def test_list_studies_shows_counts_and_best(client):
    sid = client.post("/api/v1/studies", json=custom_spec(trials=2)).json()["id"]
    client.post(f"/api/v1/studies/{sid}/trials", json={"trials": [
        {"params": {"x": 0.1, "lr": 1e-3},
         "result": {"state": "completed", "metrics": {"val_accuracy": 0.7}}}]})
    data = client.get("/api/v1/studies").json()
    assert data["total"] == 1
    item = data["items"][0]
    assert item["best"] == 0.7 and item["counts"] == {"queued": 2, "completed": 1}
