"""The CLI over a real server: a user creates a study from YAML and reads the leaderboard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import REPO, ServerProcess, custom_spec

pytestmark = pytest.mark.slow  # every test runs the CLI or a server as a process


def hpsearch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(custom_spec(trials=3, name="from-yaml")))
    return path


def test_study_create_show_and_leaderboard(server, spec_file):
    out = hpsearch("study", "create", str(spec_file), "--server", server.url)
    assert out.returncode == 0, out.stderr
    assert "created study #1 from-yaml: stage 0 queued 3 trials" in out.stdout
    http = httpx.Client(base_url=server.url)
    task = http.post("/api/v1/trials/claim", json={"worker": "cli-test"}).json()
    http.post(f"/api/v1/trials/{task['id']}/finish", json={
        "lease_token": task["lease_token"], "state": "completed",
        "metrics": {"val_accuracy": 0.75}})
    board = hpsearch("leaderboard", "1", "--server", server.url)
    assert board.returncode == 0, board.stderr
    assert "Leaderboard: 1 ranked trials, maximize val_accuracy" in board.stdout
    assert "0.75" in board.stdout
    as_json = json.loads(hpsearch("leaderboard", "1", "--format", "json",
                                  "--server", server.url).stdout)
    assert as_json[0]["objective"] == 0.75 and as_json[0]["trial_id"] == task["id"]
    show = hpsearch("study", "show", "1", "--server", server.url)
    assert show.returncode == 0
    assert "stage 0 (open): 3 trials x 3 epochs" in show.stdout
    assert "lr log [1e-05, 0.1]" in show.stdout
    listing = hpsearch("study", "list", "--server", server.url)
    assert "from-yaml" in listing.stdout


def test_errors_are_one_line_and_non_zero(server, tmp_path):
    missing = hpsearch("study", "create", str(tmp_path / "nope.yaml"), "--server", server.url)
    assert missing.returncode == 2 and "not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: [unclosed")
    out = hpsearch("study", "create", str(bad_yaml), "--server", server.url)
    assert out.returncode == 2 and "not valid YAML" in out.stderr
    bad_space = tmp_path / "space.yaml"
    bad_space.write_text(yaml.safe_dump(custom_spec(
        space={"lr": {"type": "log_uniform", "low": -6, "high": -1}})))
    out = hpsearch("study", "create", str(bad_space), "--server", server.url)
    assert out.returncode == 1
    assert "space.lr.log_uniform: log_uniform needs low > 0" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    gone = hpsearch("study", "show", "42", "--server", server.url)
    assert gone.returncode == 1 and "study 42 not found" in gone.stderr


def test_unreachable_server_is_one_line(tmp_path):
    out = hpsearch("study", "list", "--server", "http://127.0.0.1:9")
    assert out.returncode == 69  # EX_UNAVAILABLE, apart from bad usage (2)
    assert "cannot reach the hpsearch server" in out.stderr and "Traceback" not in out.stderr


def test_bad_flag_names_the_flag():
    out = hpsearch("leaderboard", "--top", "many")
    assert out.returncode == 2 and "--top" in out.stderr


def test_token_created_on_the_database_then_auth_is_on(database_url):
    out = hpsearch("token", "create", "--role", "admin", "--db", database_url)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[0]
    assert token.startswith("hps_")
    srv = ServerProcess(database_url).start()
    try:
        assert httpx.get(srv.url + "/api/v1/studies").status_code == 401
        ok = hpsearch("study", "list", "--server", srv.url, env={"HPSEARCH_TOKEN": token})
        assert ok.returncode == 0, ok.stderr
        listed = hpsearch("token", "list", "--server", srv.url, "--token", token)
        assert "admin" in listed.stdout and token not in listed.stdout
    finally:
        srv.stop()


def test_serve_refuses_public_bind_without_auth(database_url):
    out = hpsearch("serve", "--db", database_url, "--host", "0.0.0.0", "--port", "1")
    assert out.returncode == 2
    assert "refusing to bind 0.0.0.0 without auth" in out.stderr
