"""Parameter importance: the pure computation and GET /studies/{id}/importance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.analysis.importance import MIN_TRIALS, encode, importance
from tests.conftest import custom_spec

SPACE = {
    "lr": {"type": "log_uniform", "low": 1e-5, "high": 1e-1},
    "noise": {"type": "uniform", "low": 0.0, "high": 1.0},
    "act": {"type": "choice", "values": ["relu", "tanh", "elu"]},
}


def synthetic(n: int, seed: int = 1) -> tuple[dict[str, list], list[float]]:
    """The objective peaks at lr = 1e-3 and ignores noise and act."""
    rng = np.random.default_rng(seed)
    lr = (10 ** rng.uniform(-5, -1, n)).tolist()
    noise = rng.uniform(0, 1, n).tolist()
    act = rng.choice(["relu", "tanh", "elu"], n).tolist()
    y = [1 - (math.log10(v) + 3) ** 2 / 4 for v in lr]
    return {"lr": lr, "noise": noise, "act": act}, y


def test_the_parameter_that_drives_the_objective_comes_first():
    params, y = synthetic(300)
    cols = {"lr": encode(params["lr"], "log_uniform", True),
            "noise": encode(params["noise"], "uniform", False),
            "act": encode(params["act"], "choice", False)}
    result = importance(cols, np.array(y))
    assert result.importances is not None and result.note is None
    assert next(iter(result.importances)) == "lr"
    assert result.importances["lr"] > 0.8
    assert sum(result.importances.values()) == pytest.approx(1.0)
    assert result.r2 is not None and result.r2 > 0.5


def test_too_few_trials_give_a_note_not_a_figure():
    params, y = synthetic(MIN_TRIALS - 1)
    result = importance({"lr": encode(params["lr"], "log_uniform", True)}, np.array(y))
    assert result.importances is None and str(MIN_TRIALS) in result.note


def test_encoding_logs_and_codes():
    assert encode([1e-3, 1e-1], "log_uniform", True).tolist() == pytest.approx([-3, -1])
    assert encode(["a", "b", "a", True], "choice", False).tolist() == [0, 1, 0, 2]
    assert math.isnan(encode([None], "uniform", False)[0])


def record(client, study: int, n: int) -> None:
    params, y = synthetic(n)
    items = [{"params": {k: params[k][i] for k in params},
              "result": {"state": "completed", "metrics": {"val_accuracy": y[i]}}}
             for i in range(n)]
    assert client.post(f"/api/v1/studies/{study}/trials",
                       json={"trials": items}).status_code == 201


def test_the_study_importance_names_the_method_and_each_stage(client):
    study = client.post("/api/v1/studies", json=custom_spec(trials=1, space=SPACE)).json()["id"]
    record(client, study, 200)
    data = client.get(f"/api/v1/studies/{study}/importance").json()
    assert "random forest" in data["method"]
    assert next(iter(data["whole"]["importances"])) == "lr"
    assert data["whole"]["trials"] == 200
    assert [s["stage"] for s in data["stages"]] == [0]
    assert data["stages"][0]["importances"] is not None


def test_a_small_study_says_there_are_too_few_trials(client):
    study = client.post("/api/v1/studies", json=custom_spec(trials=1, space=SPACE)).json()["id"]
    record(client, study, 5)
    data = client.get(f"/api/v1/studies/{study}/importance").json()
    assert data["whole"]["importances"] is None and "at least" in data["whole"]["note"]
    assert client.get("/api/v1/studies/999999/importance").status_code == 404
