"""The CLI's usage errors, in-process: each names its flag and exits 2; an unreachable
server has its own exit code."""

from __future__ import annotations

import socket
from typing import get_args

import pytest

from app.cli.main import EXIT_UNREACHABLE, EXIT_USAGE, main
from app.cli.studies import TRIAL_STATES
from app.schemas import TrialState


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_USAGE
    return capsys.readouterr().err


def test_a_server_without_a_scheme_gets_a_hint(capsys):
    err = usage_error(["study", "list", "--server", "localhost:8000"], capsys)
    assert "--server" in err and "add the scheme: http://localhost:8000" in err


def test_a_bad_state_is_refused_naming_the_flag(capsys):
    err = usage_error(["leaderboard", "1", "--state", "done"], capsys)
    assert "--state" in err and "'done'" in err and "completed" in err


def test_the_cli_knows_every_trial_state():
    assert get_args(TrialState) == TRIAL_STATES


def test_an_unreachable_server_has_its_own_exit_code(capsys, monkeypatch):
    monkeypatch.setattr("app.cli.output.RETRY_SECONDS", 0.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    assert main(["study", "list", "--server", closed]) == EXIT_UNREACHABLE != EXIT_USAGE
    assert "cannot reach the hpsearch server" in capsys.readouterr().err
