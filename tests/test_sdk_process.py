"""The Python client in its own process: Ctrl-C releases the running trial, and the
client loads no server code."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, custom_spec

pytestmark = pytest.mark.slow

LOOP_WITH = """
    for trial in study.trials():
        with trial:
            trial.report(1, val_accuracy=0.1)
            print(trial.id, flush=True)
            time.sleep(60)
"""
LOOP_PLAIN = """
    for trial in study.trials():
        trial.report(1, val_accuracy=0.1)
        print(trial.id, flush=True)
        time.sleep(60)
"""


def create_study(server: ServerProcess, trials: int) -> int:
    stage = {"trials": trials, "epochs": 2, "pruning": {"rule": "none"}}
    r = httpx.post(f"{server.url}/api/v1/studies", json=custom_spec(stages=[stage]))
    r.raise_for_status()
    return int(r.json()["id"])


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "run_trials.py"
    path.write_text("import sys, time\nimport hpsearch\n"
                    "study = hpsearch.connect(sys.argv[1]).study(int(sys.argv[2]))\n"
                    + textwrap.dedent(body))
    return path


@pytest.mark.parametrize("body", [LOOP_WITH, LOOP_PLAIN], ids=["with", "plain"])
def test_ctrl_c_releases_the_running_trial(server, tmp_path, body):
    study = create_study(server, trials=2)
    proc = subprocess.Popen([sys.executable, str(script(tmp_path, body)), server.url,
                             str(study)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        trial_id = int(proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "KeyboardInterrupt" in err
    trial = httpx.get(f"{server.url}/api/v1/trials/{trial_id}").json()
    assert (trial["state"], trial["attempt"], trial["reports"]) == ("queued", 0, [])
    assert "interrupted" in trial["reason"]
    counts = httpx.get(f"{server.url}/api/v1/studies/{study}").json()["counts"]
    assert counts == {"queued": 2}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_client_loads_no_server_code(server, tmp_path):
    study = create_study(server, trials=1)
    body = """
        for trial in study.trials():
            with trial:
                trial.report(1, val_accuracy=0.5)
        assert study.best_trial is not None and study.state == "completed"
        server = ("fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "psycopg")
        loaded = [m for m in sys.modules if m.split(".")[0] in (*server, "app")]
        print(sorted(loaded))
    """
    out = subprocess.run([sys.executable, str(script(tmp_path, body)), server.url, str(study)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
