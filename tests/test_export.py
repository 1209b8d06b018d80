"""``GET /studies/{id}/export``: CSV and JSON, streamed in batches, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from typing import Any

from sqlalchemy import insert, select

from app.models import Trial, TrialReport
from app.services import export as export_service
from tests.conftest import custom_spec

BIG = 10_000
ENQUEUE_BATCH = 2_500


def run_trial(client: Any, study_id: int, steps: list[dict[str, Any]], final: dict[str, Any],
              state: str = "completed", reason: str | None = None) -> int:
    """Claim a queued trial of the study, report each step and finish it; returns its id."""
    task = client.post("/api/v1/trials/claim", json={"worker": "w", "studies": [study_id]}).json()
    token = task["lease_token"]
    for step, metrics in enumerate(steps, start=1):
        r = client.post(f"/api/v1/trials/{task['id']}/report",
                        json={"lease_token": token, "step": step, "metrics": metrics})
        assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/trials/{task['id']}/finish",
                    json={"lease_token": token, "state": state, "metrics": final,
                          "reason": reason})
    assert r.status_code == 200, r.text
    return task["id"]


def small_study(client: Any) -> tuple[int, list[int]]:
    """Three trials: completed (with curves), aborted (with a nested metric), still queued."""
    study = client.post("/api/v1/studies", json=custom_spec(trials=3)).json()["id"]
    layers = {"layers": [{"layer": 1, "update_ratio": 1e-3, "act_mean": 0.1}]}
    done = run_trial(client, study,
                     [{"train_loss": 2.0, "val_accuracy": 0.5, "diagnostics": layers},
                      {"train_loss": 1.0, "val_accuracy": 0.7, "diagnostics": layers}],
                     {"val_accuracy": 0.7, "train_loss": 1.0, "best_epoch": 2})
    aborted = run_trial(client, study, [{"train_loss": "inf"}],
                        {"train_loss": "inf", "history": [1, 2]}, state="aborted",
                        reason="loss inf, diverged")
    return study, [done, aborted]


def export(client: Any, study_id: int, fmt: str) -> Any:
    r = client.get(f"/api/v1/studies/{study_id}/export", params={"format": fmt})
    assert r.status_code == 200, r.text
    return r


def test_csv_has_one_row_per_trial_with_params_and_metrics(client):
    study, (done, aborted) = small_study(client)
    r = export(client, study, "csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert f'filename="study-{study}.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(row["trial_id"]) for row in rows] == sorted(int(x["trial_id"]) for x in rows)
    assert len(rows) == 3
    header = r.text.splitlines()[0].split(",")
    assert header[:4] == ["trial_id", "number", "stage", "state"]
    assert [h for h in header if h.startswith("params.")] == ["params.x", "params.lr"]
    assert sorted(h for h in header if h.startswith("metrics.")) == [
        "metrics.best_epoch", "metrics.history", "metrics.train_loss", "metrics.val_accuracy"]
    by_id = {int(row["trial_id"]): row for row in rows}
    trial = client.get(f"/api/v1/trials/{done}").json()
    row = by_id[done]
    assert row["state"] == "completed" and float(row["objective"]) == 0.7
    assert float(row["params.lr"]) == trial["params"]["lr"]  # full precision round trip
    assert float(row["params.x"]) == trial["params"]["x"]
    assert row["metrics.best_epoch"] == "2" and row["metrics.history"] == ""
    assert row["started_at"] and row["finished_at"] and row["worker"] == "w"
    row = by_id[aborted]
    assert row["state"] == "aborted" and row["objective"] == ""
    assert row["reason"] == "loss inf, diverged"
    assert json.loads(row["metrics.history"]) == [1, 2]
    assert row["metrics.train_loss"] == "inf"
    queued = [r for r in rows if r["state"] == "queued"]
    assert len(queued) == 1 and queued[0]["finished_at"] == "" and queued[0]["params.lr"]


def test_json_holds_each_trial_as_the_trial_endpoint_shows_it(client):
    study, (done, aborted) = small_study(client)
    r = export(client, study, "json")
    assert r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert data["study"]["id"] == study and data["study"]["metric"] == "val_accuracy"
    assert data["study"]["spec"]["space"]["lr"]["type"] == "log_uniform"
    assert len(data["trials"]) == 3
    by_id = {t["id"]: t for t in data["trials"]}
    for trial_id in (done, aborted):
        assert by_id[trial_id] == client.get(f"/api/v1/trials/{trial_id}").json()
    assert [rep["step"] for rep in by_id[done]["reports"]] == [1, 2]
    assert by_id[done]["reports"][0]["metrics"]["diagnostics"]["layers"][0]["layer"] == 1
    assert by_id[aborted]["reports"][0]["metrics"]["train_loss"] == "inf"


def test_unknown_study_and_bad_format(client):
    assert client.get("/api/v1/studies/999/export").status_code == 404
    study, _ = small_study(client)
    r = client.get(f"/api/v1/studies/{study}/export", params={"format": "xml"})
    assert r.status_code == 422
    assert any("format" in e["loc"] for e in r.json()["detail"])


def fill_big_study(client: Any) -> int:
    """A study with BIG external results (through the API) and two reports per trial
    (inserted directly, as a worker would have sent them)."""
    study = client.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    for start in range(0, BIG, ENQUEUE_BATCH):
        items = [
            {"params": {"x": (i % 1000) / 1000, "lr": 10 ** (-5 + 4 * (i % 997) / 997)},
             "result": {"state": "completed" if i % 10 else "pruned",
                        "metrics": {"val_accuracy": (i % 1000) / 1000, "train_loss": 1.5}}}
            for i in range(start, start + ENQUEUE_BATCH)
        ]
        r = client.post(f"/api/v1/studies/{study}/trials", json={"trials": items})
        assert r.status_code == 201, r.text
    db = client.app.state.db
    with db.write() as session:
        trials = session.execute(
            select(Trial.id, Trial.stage_id).where(Trial.study_id == study)).all()
        now = time.time()
        session.execute(insert(TrialReport), [
            {"trial_id": t.id, "stage_id": t.stage_id, "step": step, "objective": 0.1 * step,
             "metrics": {"val_accuracy": 0.1 * step}, "created_at": now}
            for t in trials for step in (1, 2)
        ])
    return study


def test_ten_thousand_trials_stream_in_batches(client):
    study = fill_big_study(client)
    total = BIG + 1  # plus the stage's one sampled (queued) trial

    with client.stream("GET", f"/api/v1/studies/{study}/export",
                       params={"format": "csv"}) as r:
        assert r.status_code == 200
        chunks = [c for c in r.iter_text() if c]
    assert len(chunks) > 1  # sent piece by piece, not as one body
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert len(rows) == total
    assert len({row["trial_id"] for row in rows}) == total
    assert sum(row["state"] == "pruned" for row in rows) == BIG // 10

    with client.stream("GET", f"/api/v1/studies/{study}/export",
                       params={"format": "json"}) as r:
        assert r.status_code == 200
        body = "".join(r.iter_text())
    data = json.loads(body)
    assert len(data["trials"]) == total
    assert all([rep["step"] for rep in t["reports"]] == [1, 2] for t in data["trials"])
    assert math.isclose(max(t["objective"] or 0 for t in data["trials"]), 0.999)

    # the generators read BATCH rows at a time, in a session of their own
    db = client.app.state.db
    stream = export_service.export_csv(db, study)
    header = next(stream)  # nothing but the header before the first batch is read
    assert header.startswith("trial_id,") and header.count("\n") == 1
    lines = [chunk.count("\n") for chunk in stream]
    assert lines == [export_service.BATCH] * (BIG // export_service.BATCH) + [1]
    parts = list(export_service.export_json(db, study))
    assert len(parts) == 2 + math.ceil((BIG + 1) / export_service.BATCH)
    assert len(json.loads("".join(parts))["trials"]) == BIG + 1


def test_csv_cells_never_run_as_spreadsheet_formulas(client):
    modes = ["=1+2", "-3", "@SUM(A1)", "-inf", "+cmd|x", "ok"]
    spec = custom_spec(trials=1, space={
        "x": {"type": "uniform", "low": -1.0, "high": 0.0},
        "mode": {"type": "choice", "values": modes},
    })
    study = client.post("/api/v1/studies", json=spec).json()["id"]
    task = client.post("/api/v1/trials/claim",
                       json={"worker": '=HYPERLINK("http://evil")', "studies": [study]}).json()
    r = client.post(f"/api/v1/trials/{task['id']}/finish", json={
        "lease_token": task["lease_token"], "state": "failed",
        "metrics": {"val_accuracy": -0.25, "note": "\tx"}, "reason": "-2+3 went wrong"})
    assert r.status_code == 200, r.text
    enqueued = [{"params": {"x": -0.5, "mode": mode},
                 "result": {"state": "completed", "metrics": {"val_accuracy": -1.5}}}
                for mode in modes]
    r = client.post(f"/api/v1/studies/{study}/trials", json={"trials": enqueued})
    assert r.status_code in (200, 201), r.text
    rows = list(csv.DictReader(io.StringIO(export(client, study, "csv").text)))
    first = rows[0]
    assert first["worker"] == '\'=HYPERLINK("http://evil")'
    assert first["reason"] == "'-2+3 went wrong"
    assert first["metrics.note"] == "'\tx" and first["metrics.val_accuracy"] == "-0.25"
    assert [row["params.mode"] for row in rows[1:]] == [
        "'=1+2", "-3", "'@SUM(A1)", "-inf", "'+cmd|x", "ok"]
    assert {row["params.x"] for row in rows[1:]} == {"-0.5"}  # numbers stay numbers
    assert {row["objective"] for row in rows[1:]} == {"-1.5"}
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "@", "+", "\t", "\r")), row


def test_cli_csv_output_never_runs_as_formulas(capsys):
    from app.cli.output import emit

    emit("csv", ["rank", "=param", "objective"],
         [[1, "@evil", -0.5], [2, "-1", -2]], [])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["rank,'=param,objective", "1,'@evil,-0.5", "2,-1,-2"]
