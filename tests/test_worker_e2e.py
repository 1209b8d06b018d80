"""Real worker processes against a real server, on SQLite and PostgreSQL: every trial ends
in a terminal state with its per-epoch reports, custom objectives run, bad trials fail
alone, and a task the workers cannot run pauses the study with the reason."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import ServerProcess
from tests.worker_helpers import (
    HPSEARCH_WORKER,
    REPO,
    Api,
    WorkerProcess,
    finished_events,
    steady_spec,
    wait_for,
)

pytestmark = pytest.mark.slow
TERMINAL = {"completed", "aborted", "pruned", "failed"}
# what runs a trial does not depend on the storage: SQLite only
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def srv(database_url: str):
    server = ServerProcess(database_url, env={"HPSEARCH_LEASE_SECONDS": "30",
                                              "HPSEARCH_SWEEP_SECONDS": "1"}).start()
    yield server
    server.stop()


def spiral_spec() -> dict:
    return {
        "name": "spiral-e2e",
        "task": {"dataset": "spiral", "settings": {"hidden_size": 16, "batch_size": 32}},
        "space": {"learning_rate": {"type": "log_uniform", "low": 1e-3, "high": 1e-1},
                  "reg": {"type": "log_uniform", "low": 1e-6, "high": 1e-2}},
        "stages": [{"trials": 6, "epochs": 2}, {"trials": 3, "epochs": 3}],
        "seed": 5,
    }


def assert_reports_complete(trial: dict) -> None:
    steps = [r["step"] for r in trial["reports"]]
    assert steps == list(range(1, trial["steps"] + 1)), trial
    if trial["state"] == "completed":
        assert trial["steps"] == trial["epochs"], trial


def test_two_workers_finish_every_trial_with_reports(srv, tmp_path: Path):
    api = Api(srv.url)
    study = api.create_study(spiral_spec())
    workers = [WorkerProcess(srv.url, tmp_path, f"w{i}", "--idle-exit", "3") for i in range(2)]
    try:
        wait_for(lambda: api.study_done(study), 120, "the study to complete")
        assert [w.wait(30) for w in workers] == [0, 0]
    finally:
        for w in workers:
            w.stop()
    trials = api.trials(study)
    assert len(trials) == 9 and {t["stage"] for t in trials} == {0, 1}
    for trial in trials:
        assert trial["state"] in TERMINAL, trial
        assert_reports_complete(trial)
        assert "val_accuracy" in trial["reports"][0]["metrics"]
    done = Counter(e["trial"] for e in finished_events(*workers))
    assert done == Counter({t["id"]: 1 for t in trials})
    registered = {w["name"]: w for w in api.get("/workers")}
    assert {"w0", "w1"} <= set(registered)
    for w in workers:
        info = registered[w.name]
        assert info["pid"] == w.pid and info["processes"] == 1 and info["version"]
        assert info["current_trial_id"] is None and info["last_seen_at"]


@SQLITE_ONLY
def test_custom_objective_example_runs_end_to_end(srv, tmp_path: Path):
    spec = yaml.safe_load((REPO / "examples" / "custom_objective.yaml").read_text())
    spec["stages"] = [{"trials": 4, "epochs": 2}, {"trials": 2, "epochs": 3}]
    api = Api(srv.url)
    study = api.create_study(spec)
    worker = WorkerProcess(srv.url, tmp_path, "custom", "--idle-exit", "2",
                           "--objective", "custom_objective:objective", cwd=REPO / "examples",
                           command=HPSEARCH_WORKER)
    try:
        wait_for(lambda: api.study_done(study), 120, "the study to complete")
        assert worker.wait(30) == 0
    finally:
        worker.stop()
    trials = api.trials(study)
    assert len(trials) == 6 and all(t["state"] in TERMINAL for t in trials)
    for trial in trials:
        assert_reports_complete(trial)
    best = api.get(f"/studies/{study}/leaderboard")["rows"][0]
    assert best["objective"] > 0.5 and "train_accuracy" in best["metrics"]


@SQLITE_ONLY
def test_a_bad_trial_fails_alone(srv, tmp_path: Path):
    api = Api(srv.url)
    study = api.create_study(steady_spec(trials=6, epochs=2, sleep=0.01))
    worker = WorkerProcess(srv.url, tmp_path, "flaky", "--idle-exit", "2",
                           "--objective", "tests.worker_helpers:flaky")
    try:
        wait_for(lambda: api.study_done(study), 60, "the study to complete")
        assert worker.wait(30) == 0
    finally:
        worker.stop()
    trials = api.trials(study)
    bad = [t for t in trials if t["params"]["x"] > 0.5]
    good = [t for t in trials if t["params"]["x"] <= 0.5]
    assert bad and good
    for t in bad:
        assert t["state"] == "failed"
        first, *rest = t["reason"].splitlines()
        assert first == f"ValueError: x={t['params']['x']:.3f} is too large for this model"
        assert any("in flaky" in line for line in rest), t["reason"]
    assert all(t["state"] == "completed" and t["steps"] == 2 for t in good)


@pytest.mark.parametrize(
    ("spec", "args", "reason"),
    [
        ({"task": {"dataset": "npz:/no/such/data.npz"}, "space": {
            "learning_rate": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}}},
         [], "dataset not readable on this worker (details in the worker's log)"),
        ({}, ["--objective", "no_such_module:train"],
         "cannot import objective no_such_module:train: ModuleNotFoundError"),
    ],
    ids=["missing-dataset", "objective-not-importable"],
)
def test_a_task_this_worker_cannot_run_pauses_the_study(srv, tmp_path: Path, spec, args, reason):
    api = Api(srv.url)
    study = api.create_study({**steady_spec(trials=8, epochs=2, sleep=0.01), **spec})
    worker = WorkerProcess(srv.url, tmp_path, "broken", "--idle-exit", "2", *args)
    try:
        wait_for(lambda: api.study(study)["state"] == "paused", 60, "the study to pause")
        assert worker.wait(30) == 0
    finally:
        worker.stop()
    detail = api.study(study)
    assert detail["counts"] == {"failed": 5, "queued": 3}
    assert reason in detail["state_reason"]
    for trial in api.trials(study):
        if trial["state"] == "failed":
            assert trial["reason"].splitlines()[0].startswith(reason.split(":")[0])
            assert "/no/such" not in trial["reason"]  # whether it exists is the node's affair
    if "dataset" in reason:
        details = [e["message"] for e in worker.events("task_error")]
        assert details and all("/no/such/data.npz: cannot read" in d for d in details)
