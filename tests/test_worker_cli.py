"""``hpsearch worker`` options: errors name the flag and children get the same options
(the import contract in pyproject.toml keeps the worker free of server libraries)."""

from __future__ import annotations

import pytest

from app.schemas import TrialTask
from worker import cli
from worker.runner import Task


@pytest.mark.parametrize(
    ("argv", "flag", "needle"),
    [
        (["--processes", "0"], "--processes", "must be >= 1"),
        (["--processes", "two"], "--processes", "expected an integer"),
        (["--max-trials", "-3"], "--max-trials", "must be >= 1"),
        (["--idle-exit", "-1"], "--idle-exit", "must be >= 0"),
        (["--idle-exit", "soon"], "--idle-exit", "expected a number"),
        (["--poll-max", "0"], "--poll-max", "must be > 0"),
        (["--study", "x"], "--study", "expected an integer"),
        (["--objective", "train.py"], "--objective", "package.module:function"),
        (["--objective", "pkg.mod:"], "--objective", "package.module:function"),
        (["--server", "localhost:8000"], "--server", "http:// or https://"),
        (["--quiet", "--log-json"], "--log-json", "not allowed with argument --quiet"),
    ],
)
def test_flag_errors_name_the_flag(capsys, argv, flag, needle):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and needle in err, err


def test_defaults_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("HPSEARCH_SERVER", "http://api:8000")
    monkeypatch.setenv("HPSEARCH_TOKEN", "secret")
    monkeypatch.setenv("HPSEARCH_WORKER_THREADS", "3")
    args = cli.build_parser().parse_args([])
    assert (args.server, args.token, args.processes, args.threads) == (
        "http://api:8000", "secret", 1, 3)


def test_children_get_the_same_options_but_not_the_token():
    argv = ["--server", "http://h:1", "--token", "secret", "--study", "3", "--study", "4",
            "--processes", "3", "--max-trials", "5", "--idle-exit", "7.5",
            "--objective", "pkg.mod:fn", "--log-json", "--poll-max", "2"]
    args = cli.build_parser().parse_args(argv)
    child = cli._child_args(args, "node")(1, 2)
    assert "secret" not in child
    parsed = cli.build_parser().parse_args(child)
    assert parsed.name == "node-1" and parsed.threads == 2 and parsed.node_processes == 3
    for key in ("server", "studies", "max_trials", "idle_exit", "objective", "log_json",
                "poll_max", "retry_seconds"):
        assert getattr(parsed, key) == getattr(args, key), key


def test_task_reads_only_fields_of_the_wire_schema():
    wire = set(TrialTask.model_fields)
    renamed = {"kind", "dataset", "settings"}  # from TrialTask.task
    assert set(Task.__dataclass_fields__) - renamed <= wire
