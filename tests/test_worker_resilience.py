"""Workers under misbehaving nodes and servers: SIGKILL mid-trial, a server restart, a lost
lease, SIGTERM (once and twice). No trial is lost or finished twice."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.worker_helpers import Api, WorkerProcess, finished_events, steady_spec, wait_for

pytestmark = pytest.mark.slow
STEADY = ("--objective", "tests.worker_helpers:steady")
SHORT_LEASE = {"HPSEARCH_LEASE_SECONDS": "2", "HPSEARCH_SWEEP_SECONDS": "0.5"}
# signal handling does not depend on the storage: SQLite only
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def running_trial(api: Api, study: int, worker: str, min_steps: int = 1) -> dict | None:
    """The trial ``worker`` is running once it has reported ``min_steps`` steps."""
    return next((t for t in api.trials(study) if t["state"] == "running"
                 and t["worker"] == worker and len(t["reports"]) >= min_steps), None)


def assert_all_completed_once(api: Api, study: int, *workers: WorkerProcess) -> list[dict]:
    trials = api.trials(study)
    for t in trials:
        assert t["state"] == "completed", t
        assert [r["step"] for r in t["reports"]] == list(range(1, t["epochs"] + 1)), t
    done = Counter(e["trial"] for e in finished_events(*workers))
    assert done == Counter({t["id"]: 1 for t in trials})
    return trials


@pytest.fixture
def short_lease_server(database_url: str):
    server = ServerProcess(database_url, env=SHORT_LEASE).start()
    yield server
    server.stop()


def test_sigkilled_worker_trial_is_requeued_and_finished_by_another(short_lease_server,
                                                                   tmp_path: Path):
    api = Api(short_lease_server.url)
    study = api.create_study(steady_spec(trials=3, epochs=4, sleep=0.3))
    victim = WorkerProcess(short_lease_server.url, tmp_path, "victim", *STEADY)
    survivor = None
    try:
        trial = wait_for(lambda: running_trial(api, study, "victim"), 60, "victim to report")
        victim.send(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
        survivor = WorkerProcess(short_lease_server.url, tmp_path, "survivor", "--idle-exit",
                                 "4", *STEADY)
        wait_for(lambda: api.study_done(study), 90, "the study to complete")
        assert survivor.wait(30) == 0
    finally:
        victim.stop()
        if survivor:
            survivor.stop()
    trials = {t["id"]: t for t in assert_all_completed_once(api, study, victim, survivor)}
    killed = trials[trial["id"]]
    assert killed["worker"] == "survivor" and killed["attempt"] == 2
    assert not finished_events(victim)


def test_workers_carry_on_through_a_server_restart(database_url: str, tmp_path: Path):
    server = ServerProcess(database_url, env={"HPSEARCH_LEASE_SECONDS": "30"}).start()
    api = Api(server.url)
    study = api.create_study(steady_spec(trials=4, epochs=5, sleep=0.2))
    workers = [WorkerProcess(server.url, tmp_path, f"w{i}", "--idle-exit", "3", *STEADY)
               for i in range(2)]
    try:
        wait_for(lambda: running_trial(api, study, "w0") and running_trial(api, study, "w1"),
                 60, "both workers mid-trial")
        server.stop()
        for w in workers:  # each was mid-trial: its next report fails and is retried
            w.wait_event("retrying", 30)
        server = ServerProcess(database_url, env={"HPSEARCH_LEASE_SECONDS": "30"},
                               port=server.port).start()
        wait_for(lambda: api.study_done(study), 90, "the study to complete")
        assert [w.wait(30) for w in workers] == [0, 0]
        trials = assert_all_completed_once(api, study, *workers)
        assert all(t["attempt"] == 1 for t in trials)  # nothing had to be redone
    finally:
        for w in workers:
            w.stop()
        server.stop()


def test_lost_lease_stops_the_trial_at_once(short_lease_server, tmp_path: Path):
    api = Api(short_lease_server.url)
    study = api.create_study(steady_spec(trials=1, epochs=1, sleep=0.1))
    # the first worker's step would run for an hour: only the lost lease can end it
    first = WorkerProcess(short_lease_server.url, tmp_path, "first", "--idle-exit", "3",
                          "--objective", "tests.worker_helpers:endless")
    second = None
    try:
        trial = wait_for(lambda: running_trial(api, study, "first", min_steps=0), 60,
                         "first to claim")
        second = WorkerProcess(short_lease_server.url, tmp_path, "second", "--idle-exit", "5",
                               *STEADY)
        second.wait_event("started", 30)
        first.send(signal.SIGSTOP)  # a frozen node: no heartbeats, the lease runs out
        wait_for(lambda: api.study_done(study), 60, "second to take the trial over and finish")
        first.send(signal.SIGCONT)
        # its next heartbeat gets 409 and interrupts the step
        dropped = first.wait_event("trial_finished", 30, lambda e: e["state"] == "dropped")
        assert "lease lost" in dropped["reason"]
        assert first.events("epoch") == []
        assert first.wait(30) == 0 and second.wait(30) == 0
    finally:
        first.stop()  # SIGKILL ends a stopped process too
        if second:
            second.stop()
    (only,) = assert_all_completed_once(api, study, first, second)
    assert only["worker"] == "second" and only["attempt"] == 2 and trial["id"] == only["id"]


@SQLITE_ONLY
def test_sigterm_releases_the_trial_and_exits_zero(server, tmp_path: Path):
    api = Api(server.url)
    study = api.create_study(steady_spec(trials=2, epochs=100, sleep=0.5))
    worker = WorkerProcess(server.url, tmp_path, "term", *STEADY)
    try:
        trial = wait_for(lambda: running_trial(api, study, "term", min_steps=2), 60,
                         "the worker to report")
        epochs_before = len(worker.events("epoch"))
        worker.send(signal.SIGTERM)
        assert worker.wait(60) == 0
        assert len(worker.events("epoch")) <= epochs_before + 1  # the current epoch, no more
    finally:
        worker.stop()
    released = api.get(f"/trials/{trial['id']}")
    assert released["state"] == "queued" and released["attempt"] == 0
    assert released["reports"] == [] and "shutting down" in released["reason"]
    assert [e["state"] for e in worker.events("trial_finished")] == ["released"]
    assert api.study(study)["counts"] == {"queued": 2}


@SQLITE_ONLY
def test_second_signal_exits_at_once_and_still_releases(server, tmp_path: Path):
    api = Api(server.url)
    study = api.create_study(steady_spec(trials=1, epochs=2, sleep=60))  # one endless step
    worker = WorkerProcess(server.url, tmp_path, "int", *STEADY)
    try:
        trial = wait_for(lambda: next((t for t in api.trials(study) if t["state"] == "running"),
                                      None), 60, "the worker to claim")
        worker.send(signal.SIGINT)
        with pytest.raises(AssertionError, match="did not exit"):
            worker.wait(1)  # the first signal waits for the step to end
        worker.send(signal.SIGINT)
        assert worker.wait(5) == 128 + signal.SIGINT
    finally:
        worker.stop()
    assert api.get(f"/trials/{trial['id']}")["state"] == "queued"
