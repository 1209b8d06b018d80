"""Leaderboard ``sort``/``order``: columns and JSON fields, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import custom_spec

SPACE = {
    "x": {"type": "uniform", "low": 0.0, "high": 1.0},
    "lr": {"type": "log_uniform", "low": 1e-5, "high": 1e-1},
    "act": {"type": "choice", "values": ["relu", "tanh", "elu"]},
}
# (x, lr, act, val_accuracy, note) per recorded trial; note mixes numbers, text and absence
RESULTS = [
    (0.50, 1e-3, "tanh", 0.80, 3.0),
    (0.10, 1e-2, "relu", 0.90, "n/a"),
    (0.90, 1e-4, "elu", 0.80, None),
    (0.30, 3e-2, "relu", 0.95, 1.0),
    (0.70, 2e-5, "tanh", 0.60, "inf"),
    (0.20, 5e-3, "elu", 0.85, 2.0),
]


def make_study(client: Any, direction: str = "maximize") -> int:
    spec = custom_spec(trials=2, space=SPACE, objective={"metric": "val_accuracy",
                                                         "direction": direction})
    study_id = client.post("/api/v1/studies", json=spec).json()["id"]
    items = []
    for x, lr, act, acc, note in RESULTS:
        metrics: dict[str, Any] = {"val_accuracy": acc, "train_loss": 1 - acc}
        if note is not None:
            metrics["note"] = note
        items.append({"params": {"x": x, "lr": lr, "act": act},
                      "result": {"state": "completed", "metrics": metrics}})
    r = client.post(f"/api/v1/studies/{study_id}/trials", json={"trials": items})
    assert r.status_code == 201, r.text
    return study_id


def rows(client: Any, study_id: int, **params: Any) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/studies/{study_id}/leaderboard", params=params)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def numbers(rows_: list[dict[str, Any]]) -> list[int]:
    return [r["number"] for r in rows_]


def test_default_order_is_best_first_ties_by_trial_id(client):
    study = make_study(client)
    got = rows(client, study)
    # the two sampled trials are still queued: no objective, so not ranked
    assert [r["objective"] for r in got] == [0.95, 0.90, 0.85, 0.80, 0.80, 0.60]
    tied = [r for r in got if r["objective"] == 0.80]
    assert [r["trial_id"] for r in tied] == sorted(r["trial_id"] for r in tied)
    assert [r["rank"] for r in got] == list(range(1, 7))


def test_minimize_study_ranks_the_smallest_first(client):
    study = make_study(client, direction="minimize")
    assert [r["objective"] for r in rows(client, study)] == [0.60, 0.80, 0.80, 0.85, 0.90, 0.95]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_numeric_param(client, order):
    study = make_study(client)
    got = rows(client, study, sort="params.x", order=order)
    xs = [r["params"]["x"] for r in got]
    assert xs == sorted(xs, reverse=order == "desc")
    assert len(xs) == len(RESULTS)


def test_sort_by_log_param_and_by_choice_text(client):
    study = make_study(client)
    lrs = [r["params"]["lr"] for r in rows(client, study, sort="params.lr", order="desc")]
    assert lrs == sorted(lrs, reverse=True)
    acts = [r["params"]["act"] for r in rows(client, study, sort="params.act")]
    assert acts == sorted(acts)


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_metric_sort_puts_numbers_then_text_then_missing(client, order):
    study = make_study(client)
    notes = [r["number"] for r in rows(client, study, sort="metrics.note", order=order)]
    by_number = {r["number"]: r for r in rows(client, study, state="completed")}
    # the API's key metrics leave "note" out, so read it back from the trials
    values = [client.get(f"/api/v1/trials/{by_number[n]['trial_id']}").json()["metrics"]
              .get("note") for n in notes]
    numeric = [v for v in values if isinstance(v, float)]
    assert numeric == sorted(numeric, reverse=order == "desc")
    kinds = ["num" if isinstance(v, float) else "text" if isinstance(v, str) else "none"
             for v in values]
    assert kinds == ["num"] * 3 + ["text"] * 2 + ["none"]


def test_sort_by_objective_and_columns(client):
    study = make_study(client)
    asc = [r["objective"] for r in rows(client, study, sort="objective", order="asc")]
    assert asc == sorted(asc)
    got = rows(client, study, sort="number", order="desc", state="completed")
    assert numbers(got) == sorted(numbers(got), reverse=True)
    ids = [r["trial_id"] for r in rows(client, study, sort="trial_id")]
    assert ids == sorted(ids)
    metric = [r["metrics"]["train_loss"]
              for r in rows(client, study, sort="metrics.train_loss", order="asc")]
    assert metric == sorted(metric)


def test_sort_by_state(client):
    study = make_study(client)
    extra = [{"params": {"x": 0.4, "lr": 1e-3, "act": "relu"},
              "result": {"state": state, "metrics": {"val_accuracy": 0.5}}}
             for state in ("pruned", "aborted")]
    client.post(f"/api/v1/studies/{study}/trials", json={"trials": extra})
    got = rows(client, study, sort="state")
    assert [r["state"] for r in got] == ["aborted"] + ["completed"] * 6 + ["pruned"]


def test_sorted_pages_concatenate_to_the_whole_listing(client):
    study = make_study(client)
    whole = numbers(rows(client, study, sort="params.lr", limit=50))
    pages = [numbers(rows(client, study, sort="params.lr", limit=2, offset=o))
             for o in (0, 2, 4)]
    assert [n for page in pages for n in page] == whole
    ranks = [r["rank"] for r in rows(client, study, sort="params.lr", limit=2, offset=2)]
    assert ranks == [3, 4]


def test_sort_respects_stage_and_state_filters(client):
    study = make_study(client)
    got = rows(client, study, sort="params.x", stage=0, state="queued")
    assert len(got) == 2 and all(r["state"] == "queued" for r in got)
    assert [r["params"]["x"] for r in got] == sorted(r["params"]["x"] for r in got)
    assert rows(client, study, sort="params.x", stage=1) == []


@pytest.mark.parametrize("key", ["bogus", "params.", "params.a-b", "metrics.x.y", "params.x;drop",
                                 "objective desc"])
def test_unknown_sort_key_is_422_naming_sort(client, key):
    study = make_study(client)
    r = client.get(f"/api/v1/studies/{study}/leaderboard", params={"sort": key})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["query", "sort"] and "sort" in error["msg"]


def test_bad_order_is_422(client):
    study = make_study(client)
    r = client.get(f"/api/v1/studies/{study}/leaderboard", params={"sort": "number",
                                                                     "order": "up"})
    assert r.status_code == 422
    assert any("order" in e["loc"] for e in r.json()["detail"])


def test_global_leaderboard_sorts_too(client):
    a, b = make_study(client), make_study(client)
    got = client.get("/api/v1/leaderboard", params={"sort": "params.x", "order": "desc",
                                                    "limit": 100}).json()["rows"]
    assert {r["study_id"] for r in got} == {a, b}
    xs = [r["params"]["x"] for r in got]
    assert xs == sorted(xs, reverse=True)
    r = client.get("/api/v1/leaderboard", params={"sort": "nope"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "sort"]
