"""A worker whose queue is empty while a served study's stage is still ending waits for the
next stage instead of counting that time as idle: with a short ``--idle-exit``, both
processes of ``--processes 2`` work until the study completes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess
from tests.worker_helpers import Api, WorkerProcess, wait_for

pytestmark = pytest.mark.slow
STAGES = 3


@pytest.fixture
def srv(database_url: str):
    server = ServerProcess(database_url, env={"HPSEARCH_LEASE_SECONDS": "30"}).start()
    yield server
    server.stop()


def tail_spec(stage: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "stage tails",
        "task": {"type": "custom"},
        "space": {"x": {"type": "uniform", "low": 0.0, "high": 1.0}},
        "stages": [{**stage, "epochs": 1, "pruning": {"rule": "none"}}] * STAGES,
        "seed": 3,
    }


@pytest.mark.parametrize("stage", [{"trials": 4}, {"budget": 4}], ids=["trials", "budget"])
def test_both_processes_work_through_every_stage_tail(srv, tmp_path: Path, stage):
    api = Api(srv.url)
    study = api.create_study(tail_spec(stage))
    worker = WorkerProcess(srv.url, tmp_path, "tails", "--processes", "2", "--idle-exit", "1",
                           "--objective", "tests.worker_helpers:tail")
    try:
        wait_for(lambda: api.study_done(study), 90, "the study to complete")
        assert worker.wait(30) == 0
    finally:
        worker.stop()
    finished = worker.events("trial_finished")
    assert len(finished) == 4 * STAGES
    last = STAGES - 1
    by_process = {e["worker"] for e in finished if e["stage"] == last}
    assert len(by_process) == 2, f"the last stage ran on {by_process} only"
    assert not [e for e in worker.events("idle_exit") if e["time"] < finished[-1]["time"]]
    assert worker.events("waiting")  # it said why it kept polling
