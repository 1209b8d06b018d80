"""The runner without a server: the built-in trainer and custom objectives behind one call,
and failure reasons whose first line is a one-line summary."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.worker_helpers import make_task
from worker.runner import (
    MAX_REASON,
    Reporter,
    Runner,
    TaskError,
    failure_reason,
    load_objective,
    plain,
)


class Recorder:
    """A ``send`` that records reports and asks to stop after ``stop_at`` steps."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.steps: list[int] = []
        self.metrics: list[dict[str, Any]] = []
        self.stop_at = stop_at

    def __call__(self, step: int, metrics: dict[str, Any]) -> bool:
        json.dumps(metrics, allow_nan=False)  # what goes on the wire is strict JSON
        self.steps.append(step)
        self.metrics.append(metrics)
        return step == self.stop_at


@pytest.fixture
def objectives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module ``user_objectives`` in a folder on sys.path, as the worker's cwd would be."""
    (tmp_path / "user_objectives.py").write_text(textwrap.dedent("""
        import numpy as np

        def quadratic(params, report):
            for step in range(1, report.epochs + 1):
                if report(step, {"val_accuracy": np.float32(params["x"]) * step}):
                    break
            return {"val_accuracy": np.float64(params["x"]), "curve": np.arange(2)}

        def silent(params, report):
            report(1, {"val_accuracy": 0.25})

        def wrong(params, report):
            return [1, 2]

        not_callable = 3
    """))
    (tmp_path / "broken_objective.py").write_text("def f(:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    load_objective.cache_clear()
    return tmp_path


def test_builtin_trainer_reports_every_epoch():
    send = Recorder()
    outcome = Runner().run(make_task(), send)
    assert outcome.state == "completed" and outcome.reason is None
    assert send.steps == [1, 2, 3]
    assert {"train_loss", "val_accuracy", "diagnostics"} <= set(send.metrics[0])
    assert outcome.metrics["epochs_run"] == 3 and 0 <= outcome.metrics["val_accuracy"] <= 1


def test_builtin_trainer_stops_when_told():
    send = Recorder(stop_at=1)
    outcome = Runner().run(make_task(), send)
    assert outcome.state == "pruned" and send.steps == [1]


def test_builtin_trainer_aborts_a_diverging_run():
    outcome = Runner().run(make_task(params={"learning_rate": 50.0, "reg": 0.0},
                                     settings={"hidden_size": 8, "optimizer": "sgd"}),
                           Recorder())
    assert outcome.state == "aborted" and outcome.reason


def test_missing_dataset_is_a_task_error(tmp_path: Path):
    task = make_task(dataset=f"npz:{tmp_path}/absent.npz")
    with pytest.raises(TaskError) as exc:
        Runner().run(task, Recorder())
    reason = failure_reason(exc.value)
    assert reason == "dataset not readable on this worker (details in the worker's log)"
    assert "absent.npz: cannot read" in (exc.value.detail or "")


def test_custom_objective_runs_and_its_values_become_plain_json(objectives):
    send = Recorder()
    task = make_task(kind="custom", dataset=None, params={"x": 0.5}, epochs=2)
    outcome = Runner("user_objectives:quadratic").run(task, send)
    assert outcome.state == "completed"
    assert outcome.metrics == {"val_accuracy": 0.5, "curve": [0, 1]}
    assert send.steps == [1, 2] and send.metrics[1] == {"val_accuracy": 1.0}


def test_custom_objective_stopped_is_pruned(objectives):
    task = make_task(kind="custom", dataset=None, params={"x": 0.5}, epochs=5)
    outcome = Runner("user_objectives:quadratic").run(task, Recorder(stop_at=2))
    assert outcome.state == "pruned"


def test_custom_objective_returning_nothing_keeps_its_last_report(objectives):
    task = make_task(kind="custom", dataset=None, params={})
    assert Runner("user_objectives:silent").run(task, Recorder()).metrics == {
        "val_accuracy": 0.25}


def test_custom_objective_must_return_a_dict(objectives):
    task = make_task(kind="custom", dataset=None, params={})
    with pytest.raises(TypeError, match="returned list; it must return a dict"):
        Runner("user_objectives:wrong").run(task, Recorder())


@pytest.mark.parametrize(
    ("spec", "first_line"),
    [
        ("no_such_module:f", "cannot import objective no_such_module:f: ModuleNotFoundError: "
                             "No module named 'no_such_module'"),
        ("broken_objective:f", "cannot import objective broken_objective:f: SyntaxError: "),
        ("user_objectives:missing", "cannot import objective user_objectives:missing: "
                                    "user_objectives has no 'missing'"),
        ("user_objectives:not_callable", "objective user_objectives:not_callable is not "
                                         "callable"),
    ],
)
def test_objective_that_cannot_be_loaded_is_a_task_error(objectives, spec, first_line):
    task = make_task(kind="custom", dataset=None, params={})
    with pytest.raises(TaskError) as exc:
        Runner(spec).run(task, Recorder())
    assert failure_reason(exc.value).splitlines()[0].startswith(first_line)


def test_custom_task_without_objective_is_a_task_error():
    with pytest.raises(TaskError, match="--objective"):
        Runner().run(make_task(kind="custom", dataset=None), Recorder())


def test_report_checks_its_arguments():
    report = Reporter(make_task(), Recorder())
    with pytest.raises(TypeError, match="step must be an int"):
        report(1.5, {})  # type: ignore[arg-type]  # a bad value on purpose
    with pytest.raises(ValueError, match=r"step must be in \[0, 3\]"):
        report(-1, {})
    with pytest.raises(ValueError, match="the trial's epochs"):
        report(4, {})
    with pytest.raises(TypeError, match="metrics must be a dict"):
        report(1, [0.5])  # type: ignore[arg-type]  # a bad value on purpose
    assert report(np.int64(2), {"a": 1}) is False
    assert (report.epochs, report.seed, report.trial_id, report.number) == (3, 11, 1, 3)


def test_failure_reason_is_a_summary_line_then_the_traceback_tail():
    def crash() -> None:
        raise ValueError("shapes (3,) and (4,) not aligned\nsecond line")

    try:
        crash()
    except ValueError as exc:
        reason = failure_reason(exc)
    lines = reason.splitlines()
    assert lines[0] == "ValueError: shapes (3,) and (4,) not aligned"
    assert "Traceback (most recent call last):" in lines[1:]
    assert any("in crash" in line for line in lines)
    assert len(failure_reason(ValueError("x" * 50_000))) <= MAX_REASON


def test_plain_turns_numpy_into_json_values():
    value = {"a": np.float32(0.5), "b": [np.int64(3)], "c": np.zeros(2), 4: (1, "x")}
    assert plain(value) == {"a": 0.5, "b": [3], "c": [0.0, 0.0], "4": [1, "x"]}
