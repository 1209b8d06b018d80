"""The Python client against a real server, on SQLite and PostgreSQL: the trial loop,
pruning, failures, a stolen lease, ask/tell, optimize and the results as data."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

import hpsearch
from app.db import normalize_url
from hpsearch.lease import EmptyQueue, Lease
from hpsearch.trial import LEFT_EARLY
from tests import sdk_helpers
from tests.conftest import BACKENDS, ServerProcess, custom_spec, make_database

pytestmark = pytest.mark.slow  # a real server process per test
NO_PRUNING = {"rule": "none"}


def spec(trials: int = 3, epochs: int = 3, pruning: dict[str, Any] | None = None,
         **extra: Any) -> dict[str, Any]:
    stage = {"trials": trials, "epochs": epochs, "pruning": pruning or NO_PRUNING}
    return custom_spec(stages=[stage], **extra)


def trial_detail(server: ServerProcess, trial_id: int) -> dict[str, Any]:
    return httpx.get(f"{server.url}/api/v1/trials/{trial_id}").json()


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per backend for the module: every test works on studies of its own."""
    for url in make_database(request.param, tmp_path_factory.mktemp("sdk")):
        srv = ServerProcess(url, env={"HPSEARCH_LEASE_SECONDS": "30"}).start()
        yield srv
        srv.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[hpsearch.Client]:
    with hpsearch.connect(server.url, name="sdk") as c:
        yield c


def test_the_loop_reports_every_epoch_and_completes_with_the_last_metrics(server, client):
    study = client.create_study(spec(trials=3, epochs=3))
    seen = []
    for trial in study.trials():
        with trial:
            for epoch in range(1, trial.epochs + 1):
                assert trial.report(epoch, val_accuracy=trial.params["x"] * epoch) is False
        seen.append(trial)
    assert len(seen) == 3 and all(t.state == "completed" for t in seen)
    for t in seen:
        detail = trial_detail(server, t.id)
        assert detail["state"] == "completed" and detail["worker"] == "sdk"
        assert [r["step"] for r in detail["reports"]] == [1, 2, 3]
        assert detail["metrics"] == {"val_accuracy": pytest.approx(t.params["x"] * 3)}
    assert study.state == "completed"
    assert study.best_trial is not None
    assert study.best_trial.id == max(seen, key=lambda t: t.params["x"]).id


def test_a_plain_loop_without_with_completes_too(server, client):
    study = client.create_study(spec(trials=2, epochs=2))
    ids = []
    for trial in study.trials(max_trials=1):
        trial.report(1, {"val_accuracy": 0.25})
        ids.append(trial.id)
    assert trial_detail(server, ids[0])["state"] == "completed"
    assert study.info()["counts"] == {"completed": 1, "queued": 1}


def test_a_trial_the_server_prunes_ends_pruned(server, client):
    pruning = {"rule": "median", "min_trials": 2}
    study = client.create_study(spec(trials=3, epochs=4, pruning=pruning))
    stops = []
    for i, trial in enumerate(study.trials()):
        with trial:
            value = 0.1 if i == 2 else 0.9  # the third trial is worse than both peers
            for epoch in range(1, trial.epochs + 1):
                stop = trial.report(epoch, val_accuracy=value)
                stops.append(stop)
                if stop:
                    break
    detail = trial_detail(server, trial.id)
    assert stops.count(True) == 1 and trial.state == "pruned"
    assert detail["state"] == "pruned" and detail["steps"] == 1
    assert detail["reason"].startswith("pruned by the server after step 1 (val_accuracy 0.1)")


def test_an_exception_fails_the_trial_with_its_traceback_and_is_reraised(server, client):
    study = client.create_study(spec(trials=2))

    def train(params: dict[str, Any]) -> None:
        raise ValueError(f"x={params['x']:.3f} broke the model")

    with pytest.raises(ValueError, match="broke the model"):
        for trial in study.trials():
            with trial:
                trial.report(1, val_accuracy=0.5)
                train(trial.params)
    detail = trial_detail(server, trial.id)
    assert detail["state"] == "failed" and trial.state == "failed"
    first, *rest = detail["reason"].splitlines()
    assert first.startswith("ValueError: x=") and first.endswith("broke the model")
    assert any("in train" in line for line in rest)
    assert detail["metrics"] == {"val_accuracy": 0.5}
    assert study.info()["counts"] == {"failed": 1, "queued": 1}


def test_caught_exceptions_fail_their_trial_and_the_loop_goes_on(server, client):
    study = client.create_study(spec(trials=3))
    for trial in study.trials(catch=(ValueError,)):
        with trial:
            if trial.number == 1:
                raise ValueError("only this one")
            trial.report(1, val_accuracy=0.5)
    assert study.info()["counts"] == {"completed": 2, "failed": 1}


def test_leaving_a_plain_loop_by_an_exception_fails_the_open_trial(server, client):
    study = client.create_study(spec(trials=2))
    with pytest.raises(RuntimeError):
        for trial in study.trials():
            trial.report(1, val_accuracy=0.5)
            raise RuntimeError("outside any with block")
    detail = trial_detail(server, trial.id)
    assert detail["state"] == "failed" and detail["reason"] == LEFT_EARLY


def test_abort_ends_the_trial_as_aborted(server, client):
    study = client.create_study(spec(trials=1))
    for trial in study.trials():
        trial.report(1, val_accuracy=0.5)
        trial.abort("loss went up 5x", {"val_accuracy": 0.1})
        assert trial.report(2, val_accuracy=0.2) is True  # ended: nothing more is sent
    detail = trial_detail(server, trial.id)
    assert (detail["state"], detail["reason"]) == ("aborted", "loss went up 5x")
    assert detail["metrics"] == {"val_accuracy": 0.1} and detail["steps"] == 1


def expire_lease(database_url: str, trial_id: int) -> None:
    engine = create_engine(normalize_url(database_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE trials SET lease_expires_at = 0 WHERE id = :id"),
                     {"id": trial_id})
    engine.dispose()


def test_a_stolen_lease_stops_the_first_client_and_writes_nothing(server):
    with hpsearch.connect(server.url, name="first") as first, \
            hpsearch.connect(server.url, name="second") as second:
        study = first.create_study(spec(trials=1, epochs=3))
        mine = study.ask()
        assert mine is not None and mine.report(1, val_accuracy=0.3) is False
        expire_lease(server.database_url, mine.id)
        theirs = second.study(study.id).ask(timeout=10)
        assert theirs is not None and theirs.id == mine.id and theirs.attempt == 2
        assert mine.report(2, val_accuracy=0.99) is True  # 409: stop, nothing stored
        assert mine.lease_lost and mine.should_stop
        mine.close()
        assert mine.state == "lost"
        assert trial_detail(server, mine.id)["reports"] == []
        with pytest.raises(hpsearch.LeaseLost):
            study.tell(mine, {"val_accuracy": 1.0})
        theirs.report(1, val_accuracy=0.4)
        study.tell(theirs)
    detail = trial_detail(server, mine.id)
    assert (detail["state"], detail["worker"]) == ("completed", "second")
    assert detail["metrics"] == {"val_accuracy": 0.4}
    assert [r["metrics"] for r in detail["reports"]] == [{"val_accuracy": 0.4}]


def test_ask_and_tell(server, client):
    study = client.create_study(spec(trials=2, epochs=1))
    first, second = study.ask(), study.ask()
    assert first is not None and second is not None and first.id != second.id
    study.tell(first, 0.7)
    study.tell(second, {"val_accuracy": 0.2}, state="aborted", reason="diverged")
    assert study.ask(timeout=0.5) is None  # the study is done
    states = {t["id"]: (t["state"], t["objective"]) for t in study.export()["trials"]}
    assert states == {first.id: ("completed", 0.7), second.id: ("aborted", 0.2)}
    with pytest.raises(RuntimeError, match="already ended"):
        study.tell(first, 0.9)


def test_optimize_in_process_takes_numbers_and_stops_at_n_trials(server, client):
    study = client.create_study(spec(trials=4, epochs=1))
    study.optimize(sdk_helpers.number_only, n_trials=3)
    trials = study.export()["trials"]
    done = [t for t in trials if t["state"] == "completed"]
    assert len(done) == 3 and all(t["objective"] == t["params"]["x"] for t in done)


def test_optimize_reraises_the_objectives_exception_after_failing_its_trial(server, client):
    study = client.create_study(spec(trials=3, epochs=1))
    with pytest.raises(ValueError, match="broke the model"):
        study.optimize(sdk_helpers.broken)
    assert study.info()["counts"] == {"failed": 1, "queued": 2}


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"n_trials": 0}, "n_trials must be >= 1"),
    ({"n_workers": 0}, "n_workers must be >= 1"),
    ({"timeout": -1}, "timeout must be > 0"),
])
def test_optimize_refuses_bad_arguments_before_claiming(server, client, kwargs, needle):
    study = client.create_study(spec(trials=1))
    with pytest.raises(ValueError, match=needle):
        study.optimize(sdk_helpers.rising, **kwargs)
    with pytest.raises(TypeError, match="picklable"):
        study.optimize(lambda trial: 1.0, n_workers=2)
    assert study.info()["counts"] == {"queued": 1}


@pytest.mark.slow
def test_optimize_with_two_workers_runs_every_trial_once(server, client, tmp_path,
                                                          monkeypatch):
    monkeypatch.setenv(sdk_helpers.RENDEZVOUS_ENV, str(tmp_path / "pids"))
    study = client.create_study(spec(trials=8, epochs=2))
    study.optimize(sdk_helpers.rising_together, n_workers=2)
    trials = study.export()["trials"]
    assert len(trials) == 8 and study.state == "completed"
    for t in trials:
        assert t["state"] == "completed" and t["attempt"] == 1, t
        assert [r["step"] for r in t["reports"]] == [1, 2]
    assert len({t["metrics"]["pid"] for t in trials}) == 2
    assert len({t["worker"] for t in trials}) == 2


def test_trials_dataframe_has_the_exports_columns(server, client):
    study = client.create_study(spec(trials=3, epochs=1))
    study.optimize(sdk_helpers.rising, n_trials=2)
    frame = study.trials_dataframe()
    csv = httpx.get(f"{server.url}/api/v1/studies/{study.id}/export",
                    params={"format": "csv"}).text
    assert list(frame.columns) == csv.splitlines()[0].split(",")
    assert len(frame) == 3 and sorted(frame["state"]) == ["completed", "completed", "queued"]
    assert {"params.x", "params.lr", "metrics.val_accuracy", "metrics.pid"} <= set(frame)
    assert str(frame["finished_at"].dtype).startswith("datetime64")


def test_trials_dataframe_without_pandas_says_how_to_get_it(server, client, monkeypatch):
    study = client.create_study(spec(trials=1))
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        study.trials_dataframe()


def test_leaderboard_ranks_and_pages(server, client):
    study = client.create_study(spec(trials=4, epochs=1))
    study.optimize(sdk_helpers.number_only)
    rows = study.leaderboard(limit=2)
    assert [r.rank for r in rows] == [1, 2] and rows[0].objective >= rows[1].objective
    assert [r.rank for r in study.leaderboard(limit=2, offset=2)] == [3, 4]
    assert study.best_trial == rows[0]


def test_best_trial_is_the_pick_after_confirmation_not_the_luckiest_run(server, client):
    study = client.create_study(custom_spec(stages=[
        {"trials": 4, "epochs": 1, "pruning": NO_PRUNING},
        {"confirm": {"top": 2, "repeats": 2}},
    ]))
    search = {0: 0.99, 1: 0.95, 2: 0.5, 3: 0.4}  # trial number 0 is the lucky one
    lucky: dict[str, Any] = {}
    for trial in study.trials():
        with trial:
            if trial.stage == 0:
                score = search[trial.number]
                if trial.number == 0:
                    lucky.update(trial.params)
            else:
                score = 0.8 if trial.params == lucky else 0.95
            trial.report(1, val_accuracy=score)
    best = study.best_trial
    assert best is not None and best.number == 1 and best.objective == 0.95
    assert best.pick == "best mean of 3 runs" and best.confirmed is not None
    assert best.confirmed["mean"] == pytest.approx(0.95) and best.confirmed["runs"] == 3
    assert study.leaderboard(limit=1)[0].number == 0  # the luckiest single score


def test_a_bad_spec_is_refused_naming_the_field_and_nothing_is_stored(server, client):
    before = client.studies()
    with pytest.raises(hpsearch.ApiError, match=r"stages\.0\.trials") as exc:
        client.create_study(custom_spec(name="refused", stages=[{"trials": 0, "epochs": 1}]))
    assert exc.value.status == 422
    assert client.studies() == before


def test_create_study_reads_the_clis_yaml(server, client, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("name: from-yaml\ntask: {type: custom}\n"
                    "space: {x: {type: uniform, low: 0, high: 1}}\n"
                    "stages: [{trials: 2, epochs: 1}]\n")
    study = client.create_study(path)
    assert study.info()["name"] == "from-yaml"
    with pytest.raises(FileNotFoundError, match="not found"):
        client.create_study(tmp_path / "absent.yaml")


def test_report_checks_its_arguments(server, client):
    study = client.create_study(spec(trials=1))
    trial = study.ask()
    assert trial is not None
    with pytest.raises(TypeError, match="step must be an int"):
        trial.report(1.5, val_accuracy=0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="at least one metric"):
        trial.report(1)
    assert trial_detail(server, trial.id)["reports"] == []
    study.tell(trial, 0.5)


def test_lease_claim_on_an_empty_queue_says_whether_work_is_coming(server, client):
    study = client.create_study(spec(trials=1))
    lease = Lease.claim(client.api, "w", [study.id])
    assert isinstance(lease, Lease) and lease.task.early_abort.enabled
    empty = Lease.claim(client.api, "w", [study.id])
    assert empty == EmptyQueue(running=1, retry_after=1.0) and empty.work_coming
