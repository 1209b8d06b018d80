"""The confirmation stage through the API: the top candidates train again with fresh seeds,
and the study's pick is the best mean over their runs, not the luckiest single score."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from app.cli.boards import leaderboard_table
from app.cli.studies import print_study
from tests.conftest import custom_spec

EPOCHS = 2


def confirm_spec(**confirm: Any) -> dict[str, Any]:
    return custom_spec(stages=[
        {"trials": 4, "epochs": EPOCHS, "pruning": {"rule": "none"}},
        {"confirm": confirm or {"top": 2, "repeats": 2}},
    ])


SEEDS: list[int] = []  # the seed of every trial claimed, in order


def claim(client: Any) -> dict[str, Any] | None:
    r = client.post("/api/v1/trials/claim", json={"worker": "w"})
    assert r.status_code in (200, 204), r.text
    if r.status_code == 204:
        return None
    SEEDS.append(r.json()["seed"])
    return r.json()


def run(client: Any, task: dict[str, Any], score: float, state: str = "completed") -> bool:
    """Report every epoch of the trial at ``score``, then finish it as ``state``; if the
    server prunes it, finish it as pruned and say so."""
    for step in range(1, task["epochs"] + 1):
        r = client.post(f"/api/v1/trials/{task['id']}/report", json={
            "lease_token": task["lease_token"], "step": step,
            "metrics": {"val_accuracy": score}})
        assert r.status_code == 200, r.text
        if r.json()["should_stop"]:
            state = "pruned"
            break
    body: dict[str, Any] = {"lease_token": task["lease_token"], "state": state,
                            "metrics": {"val_accuracy": score}}
    if state == "failed":
        body = {"lease_token": task["lease_token"], "state": "failed", "reason": "boom"}
    r = client.post(f"/api/v1/trials/{task['id']}/finish", json=body)
    assert r.status_code == 200, r.text
    return state == "pruned"


def search(client: Any, sid: int, scores: list[float]) -> dict[str, int]:
    """Run the search stage's trials with ``scores`` in claim order; their ids by score."""
    ids = {}
    for score in scores:
        task = claim(client)
        assert task is not None and task["stage"] == 0
        run(client, task, score)
        ids[str(score)] = task["id"]
    return ids


def board(client: Any, sid: int) -> dict[int, dict[str, Any]]:
    rows = client.get(f"/api/v1/studies/{sid}/leaderboard").json()["rows"]
    return {r["trial_id"]: r for r in rows}


def lucky_and_steady(client: Any, fail_one_steady_run: bool = False) -> tuple[int, int, int]:
    """A study whose luckiest search trial (0.99) confirms at 0.80/0.82 while the runner-up
    (0.95) confirms at 0.96/0.94: the best single score and the best mean differ."""
    sid = client.post("/api/v1/studies", json=confirm_spec()).json()["id"]
    SEEDS.clear()
    ids = search(client, sid, [0.99, 0.95, 0.5, 0.4])
    lucky, steady = ids["0.99"], ids["0.95"]
    params = {client.get(f"/api/v1/trials/{i}").json()["params"]["x"]: i for i in (lucky, steady)}
    confirm_scores = {lucky: [0.80, 0.82], steady: [0.96, 0.94]}
    failed = False
    while (task := claim(client)) is not None:
        assert task["stage"] == 1 and task["epochs"] == EPOCHS
        candidate = params[task["params"]["x"]]
        score = confirm_scores[candidate].pop(0)
        if fail_one_steady_run and candidate == steady and not failed:
            failed = True
            run(client, task, score, state="failed")
        else:
            assert not run(client, task, score)  # a confirmation run is never pruned
    return sid, lucky, steady


def test_the_pick_is_the_best_mean_not_the_luckiest_run(client):
    sid, lucky, steady = lucky_and_steady(client)
    study = client.get(f"/api/v1/studies/{sid}").json()
    assert study["state"] == "completed"
    confirm_stage = study["stages"][1]
    assert confirm_stage["source_trial_ids"] == [lucky, steady]
    assert confirm_stage["pruning"]["rule"] == "none" and confirm_stage["trials"] == 4
    pick = study["pick"]
    assert pick["trial_id"] == steady and pick["reason"] == "best mean of 3 runs"
    assert pick["runs"] == 3 and pick["mean"] == pytest.approx(0.95)
    assert (pick["min"], pick["max"]) == (0.94, 0.96)
    assert pick["std"] == pytest.approx(0.01)
    assert pick["trial"]["trial_id"] == steady and pick["trial"]["rank"] >= 2

    rows = board(client, sid)
    assert rows[steady]["pick"] == "best mean of 3 runs"
    assert rows[lucky]["pick"] is None
    assert rows[lucky]["confirmed"]["mean"] == pytest.approx((0.99 + 0.80 + 0.82) / 3)
    repeats = [r for r in rows.values() if r["candidate"] is not None]
    assert sorted(r["candidate"] for r in repeats) == sorted([lucky, lucky, steady, steady])
    assert len(SEEDS) == 8 and len(set(SEEDS)) == 8  # every run has its own seed


def test_a_failed_confirmation_run_keeps_its_candidate(client):
    sid, _, steady = lucky_and_steady(client, fail_one_steady_run=True)
    pick = client.get(f"/api/v1/studies/{sid}").json()["pick"]
    assert pick["trial_id"] == steady and pick["runs"] == 2 and pick["unfinished"] == 1
    assert pick["mean"] == pytest.approx((0.95 + 0.94) / 2)
    assert pick["reason"] == "best mean of 2 runs (1 more run did not finish and is left out)"


def test_a_budget_study_confirms_inside_its_budget(client):
    spec = custom_spec(budget=120, max_epochs=3)
    del spec["stages"]
    sid = client.post("/api/v1/studies", json=spec).json()["id"]
    pruned_stages = set()
    while (task := claim(client)) is not None:
        if run(client, task, 1.0 - abs(task["params"]["x"] - 0.3) - 0.01 * task["number"]):
            pruned_stages.add(task["stage"])
    study = client.get(f"/api/v1/studies/{sid}").json()
    assert study["state"] == "completed"
    *searched, confirm = study["stages"]
    assert sum(s["epochs_spent"] for s in study["stages"]) <= 120
    # 12% of 120 epochs buys four 3-epoch runs: four candidates, once each
    assert confirm["epochs_spent"] == 12 and confirm["trials"] == 4
    assert sum(s["budget"] for s in searched) == 120 - 12
    assert study["pick"] is not None and confirm["index"] not in pruned_stages
    assert study["pick"]["trial_id"] in confirm["source_trial_ids"]


def test_the_cli_table_and_the_export_show_mean_spread_and_pick(client, capsys):
    sid, lucky, steady = lucky_and_steady(client)
    print_study(client.get(f"/api/v1/studies/{sid}").json())
    said = " ".join(capsys.readouterr().out.split())
    assert f"pick: trial {steady}, val_accuracy 0.95 ± 0.01 (best mean of 3 runs)" in said
    page = client.get(f"/api/v1/studies/{sid}/leaderboard").json()
    table = leaderboard_table(page, across=False)
    assert table.title.endswith(f"pick: trial {steady} (best mean of 3 runs)")
    col = table.headers.index("confirmed (mean ± std, runs)")
    cells = {row[1]: row for row in table.rows}
    assert cells[steady][col] == "0.95 ± 0.01 (3 runs)"
    assert cells[steady][col + 1] == "pick: best mean of 3 runs"
    assert cells[lucky][col + 1] is None
    flat = leaderboard_table(page, across=False, every_column=True)
    assert flat.headers[-7:] == ["candidate", "confirm_runs", "confirm_mean", "confirm_std",
                                 "confirm_min", "confirm_max", "pick"]

    text = client.get(f"/api/v1/studies/{sid}/export", params={"format": "csv"}).text
    rows = {int(r["trial_id"]): r for r in csv.DictReader(io.StringIO(text))}
    assert rows[steady]["pick"] == "best mean of 3 runs" and rows[lucky]["pick"] == ""
    assert rows[steady]["confirm_runs"] == "3"
    assert float(rows[steady]["confirm_mean"]) == pytest.approx(0.95)
    assert float(rows[steady]["confirm_std"]) == pytest.approx(0.01)
    assert sum(r["candidate"] == str(steady) for r in rows.values()) == 2
    data = client.get(f"/api/v1/studies/{sid}/export", params={"format": "json"}).json()
    assert data["study"]["pick"] == {"trial_id": steady, "reason": "best mean of 3 runs"}
    by_id = {c["trial_id"]: c for c in data["study"]["confirmed"]}
    assert by_id[lucky]["values"] == [0.99, 0.80, 0.82]
    assert {t["candidate"] for t in data["trials"]} == {None, lucky, steady}


def test_no_pick_while_the_confirmation_runs(client):
    sid = client.post("/api/v1/studies", json=confirm_spec()).json()["id"]
    search(client, sid, [0.9, 0.8, 0.7, 0.6])
    task = claim(client)
    assert task is not None and task["stage"] == 1
    run(client, task, 0.5)
    study = client.get(f"/api/v1/studies/{sid}").json()
    assert study["state"] == "running" and study["pick"] is None
    confirmed = [r["confirmed"] for r in board(client, sid).values() if r["confirmed"]]
    assert sorted(c["pending"] for c in confirmed) == [1, 2]


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([{"confirm": {"top": 2, "repeats": 1}}], "needs a search stage before it"),
        ([{"trials": 2, "epochs": 1}, {"confirm": {"top": 2, "repeats": 1}},
          {"trials": 2, "epochs": 1}], "stages.1.confirm: a confirm stage must be the last"),
        ([{"trials": 2, "epochs": 1}, {"trials": 2, "confirm": {"top": 2, "repeats": 1}}],
         "stages.1: Value error, a confirm stage takes no trials or budget"),
        ([{"trials": 2, "epochs": 1}, {"confirm": {"top": 0, "repeats": 1}}],
         "stages.1.confirm.top: "),
        ([{"trials": 2, "epochs": 1}, {"confirm": {"top": 2, "repeats": 50}}],
         "stages.1.confirm.repeats: "),
        ([{"trials": 2, "epochs": 1}, {"confirm": {"top": 2}}], "stages.1.confirm.repeats: "),
        ([{"trials": 2, "epochs": 1}, {"confirm": {"top": 2, "repeats": 1, "seeds": 3}}],
         "stages.1.confirm.seeds: "),
        ([{"trials": 2, "epochs": 1},
          {"confirm": {"top": 2, "repeats": 1}, "pruning": {"rule": "median"}}],
         "a confirm stage is not pruned"),
        ([{"trials": 2}], "stages.0: Value error, epochs: a search stage needs epochs"),
    ],
)
def test_bad_confirm_settings_are_refused_and_nothing_is_stored(client, stages, message):
    r = client.post("/api/v1/studies", json=custom_spec(stages=stages))
    assert r.status_code == 422, r.text
    said = " | ".join(".".join(map(str, d["loc"][1:])) + ": " + d["msg"]
                      for d in r.json()["detail"])
    assert message in said
    assert client.get("/api/v1/studies").json()["total"] == 0
    assert client.post("/api/v1/trials/claim", json={"worker": "w"}).status_code == 204
