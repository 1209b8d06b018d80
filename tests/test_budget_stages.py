"""Budget stages: a stage spends a number of trained epochs instead of a trial count, and a
study given only a budget gets the default coarse-to-fine plan."""

from __future__ import annotations

from typing import Any

import pytest

from app.schemas import StudySpec
from app.search.refine import default_plan
from tests.conftest import custom_spec


def budget_spec(**extra: Any) -> dict[str, Any]:
    spec = custom_spec()
    del spec["stages"]
    spec.update(extra)
    return spec


def claim(client: Any) -> dict[str, Any] | None:
    r = client.post("/api/v1/trials/claim", json={"worker": "w"})
    assert r.status_code in (200, 204), r.text
    return r.json() if r.status_code == 200 else None


def run(client: Any, task: dict[str, Any], steps: int, state: str = "completed") -> None:
    """Report ``steps`` epochs (a score that prefers small lr), then finish as ``state``."""
    score = 1.0 - abs(task["params"]["x"] - 0.3)
    for step in range(1, steps + 1):
        r = client.post(f"/api/v1/trials/{task['id']}/report", json={
            "lease_token": task["lease_token"], "step": step,
            "metrics": {"val_accuracy": score * step / task["epochs"]}})
        assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/trials/{task['id']}/finish", json={
        "lease_token": task["lease_token"], "state": state,
        "metrics": {"val_accuracy": score}})
    assert r.status_code == 200, r.text


def stage(client: Any, sid: int, index: int = 0) -> dict[str, Any]:
    return client.get(f"/api/v1/studies/{sid}").json()["stages"][index]


def test_a_budget_alone_gets_the_default_plan():
    spec = StudySpec.model_validate(budget_spec(budget=2000))
    plan = default_plan(2000, max_epochs=50)
    assert spec.max_epochs == 50
    assert [(s.budget, s.epochs, s.trials) for s in spec.plan] == [
        (step.get("budget"), 50, None) for step in plan]
    assert [s.budget for s in spec.plan] == [540, 540, 720, None]
    assert {s.sampler for s in spec.plan[:3]} == {"sobol"}
    confirm = spec.plan[3].confirm
    assert confirm is not None and (confirm.top, confirm.repeats) == (4, 1)
    assert spec.model_dump(mode="json")["stages"][0]["pruning"]["rule"] == "median"


def test_a_small_budget_gets_one_stage():
    spec = StudySpec.model_validate(budget_spec(budget=40, max_epochs=10))
    assert [(s.budget, s.epochs) for s in spec.plan] == [(40, 10)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "a study needs stages"),
        ({"budget": 100, "stages": [{"trials": 2, "epochs": 1}]}, "either stages or budget"),
        ({"stages": [{"trials": 2, "epochs": 1}], "max_epochs": 5}, "max_epochs goes with budget"),
        ({"stages": [{"trials": 2, "budget": 10, "epochs": 1}]}, "either trials or budget"),
        ({"stages": [{"epochs": 1}]}, "either trials or budget"),
        ({"budget": 0}, "budget"),
    ],
)
def test_plan_mistakes_are_refused_with_the_rule(client, extra, message):
    r = client.post("/api/v1/studies", json=budget_spec(**extra))
    assert r.status_code == 422
    assert message in r.text


def test_a_budget_stage_samples_until_its_epochs_are_spent(client):
    spec = budget_spec(stages=[{"budget": 10, "epochs": 4, "sampler": "sobol",
                                "pruning": {"rule": "none"}}])
    created = client.post("/api/v1/studies", json=spec)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    first = stage(client, sid)
    assert (first["budget"], first["trials"], first["epochs_spent"]) == (10, 2, 0)
    a, b = claim(client), claim(client)
    assert a and b and a["epochs"] == b["epochs"] == 4
    assert claim(client) is None  # two full-length trials is what 10 epochs pay for up front
    run(client, a, 1, "pruned")  # 1 spent, 4 reserved for b: one more full-length trial
    assert stage(client, sid)["trials"] == 3
    run(client, b, 4)  # 5 spent, 4 reserved for the queued one: nothing to add
    assert stage(client, sid)["trials"] == 3
    c = claim(client)
    run(client, c, 4)  # 9 spent: one trial of the 1 epoch left
    d = claim(client)
    assert d["epochs"] == 1
    run(client, d, 1)
    study = client.get(f"/api/v1/studies/{sid}").json()
    assert study["state"] == "completed" and study["counts"] == {"completed": 3, "pruned": 1}
    assert study["stages"][0]["epochs_spent"] == 10 and study["stages"][0]["state"] == "done"


def test_the_last_trial_is_cut_to_the_budget_left(client):
    spec = budget_spec(stages=[{"budget": 6, "epochs": 4, "pruning": {"rule": "none"}}])
    sid = client.post("/api/v1/studies", json=spec).json()["id"]
    run(client, claim(client), 4)  # left 2: one trial of 2 epochs
    last = claim(client)
    assert last["epochs"] == 2
    run(client, last, 2)
    assert claim(client) is None
    assert client.get(f"/api/v1/studies/{sid}").json()["state"] == "completed"


def test_trials_that_fail_before_any_epoch_still_use_up_the_budget(client):
    spec = budget_spec(stages=[{"budget": 3, "epochs": 5}])
    sid = client.post("/api/v1/studies", json=spec).json()["id"]
    for _ in range(3):
        task = claim(client)
        assert task is not None
        run(client, task, 0, "failed")
    assert claim(client) is None
    study = client.get(f"/api/v1/studies/{sid}").json()
    assert study["state"] == "completed" and study["counts"] == {"failed": 3}


def test_a_budget_study_runs_three_stages_and_narrows(client):
    created = client.post("/api/v1/studies", json=budget_spec(budget=70, max_epochs=2))
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    while (task := claim(client)) is not None:
        run(client, task, task["epochs"])
    study = client.get(f"/api/v1/studies/{sid}").json()
    assert study["state"] == "completed"
    budgets = [s["budget"] for s in study["stages"]]
    assert budgets == [19, 19, 24, None]  # the last: 4 candidates confirmed once, 8 epochs
    assert [s["epochs_spent"] for s in study["stages"]] == [19, 19, 24, 8]
    x0, x1 = study["stages"][0]["space"]["x"], study["stages"][1]["space"]["x"]
    assert x1["high"] - x1["low"] < x0["high"] - x0["low"]
    assert x1["low"] <= 0.3 <= x1["high"]


def test_manual_refine_of_a_budget_stage_beyond_the_plan_keeps_its_budget(client):
    spec = budget_spec(stages=[{"budget": 4, "epochs": 2, "pruning": {"rule": "none"}}])
    sid = client.post("/api/v1/studies", json=spec).json()["id"]
    while (task := claim(client)) is not None:
        run(client, task, task["epochs"])
    r = client.post(f"/api/v1/studies/{sid}/refine", json={})
    assert r.status_code == 201, r.text
    assert (r.json()["budget"], r.json()["trials"]) == (4, 2)
    r = client.post(f"/api/v1/studies/{sid}/refine", json={"trials": 3})
    assert (r.json()["budget"], r.json()["trials"]) == (None, 3)
    r = client.post(f"/api/v1/studies/{sid}/refine", json={"budget": 9, "epochs": 3})
    assert (r.json()["budget"], r.json()["trials"], r.json()["epochs"]) == (9, 3, 3)
    r = client.post(f"/api/v1/studies/{sid}/refine", json={"budget": 9, "trials": 3})
    assert r.status_code == 422 and "not both" in r.text


def test_the_budget_example_is_a_valid_study():
    import yaml

    from tests.test_quickstart import REPO

    spec = StudySpec.model_validate(
        yaml.safe_load((REPO / "examples" / "mnist1d_budget.yaml").read_text()))
    assert [s.budget for s in spec.plan] == [540, 540, 720, None]
