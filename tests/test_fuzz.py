"""Property-based fuzzing of the whole API from its own /openapi.json (schemathesis), against
a real server with an admin token: every phase (examples, coverage, fuzzing, stateful) on
every operation, bounded and derandomized so a run is repeatable. No request may get a 5xx,
and every response must match the schema documented for its status code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, ServerProcess, custom_spec

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef0123456789"
MAX_EXAMPLES = 40  # per operation and phase
PHASES = "examples,coverage,fuzzing,stateful"
CHECKS = "not_a_server_error,response_schema_conformance"


def seed_data(url: str, headers: dict[str, str]) -> None:
    """A study with queued and running trials, so ids the fuzzer tries reach real rows."""
    spec = custom_spec(trials=6, epochs=3)
    spec["stages"].append({"budget": 20, "epochs": 2})
    assert httpx.post(f"{url}/api/v1/studies", json=spec, headers=headers).status_code == 201
    for _ in range(2):
        r = httpx.post(f"{url}/api/v1/trials/claim", json={"worker": "w"}, headers=headers)
        assert r.status_code == 200


def test_the_api_survives_property_based_fuzzing(database_url: str, tmp_path: Path) -> None:
    server = ServerProcess(database_url, env={"HPSEARCH_ADMIN_TOKEN": ADMIN_TOKEN}).start()
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    report_path = tmp_path / "report.json"
    try:
        seed_data(server.url, headers)
        [admin] = httpx.get(f"{server.url}/api/v1/tokens", headers=headers).json()
        started = time.monotonic()
        run = subprocess.run(
            [str(Path(sys.executable).with_name("st")), "run", f"{server.url}/openapi.json",
             "-H", f"Authorization: Bearer {ADMIN_TOKEN}", "--checks", CHECKS,
             "--phases", PHASES, "--max-examples", str(MAX_EXAMPLES),
             "--generation-deterministic", "--workers", "1", "--request-timeout", "30",
             "--no-color", "--report", "json", "--report-json-path", str(report_path)],
            cwd=tmp_path, capture_output=True, text=True, timeout=1200,  # its cache goes there
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "PYTHONPATH": str(REPO),
                 "FUZZ_ADMIN_TOKEN_ID": str(admin["id"])},
        )
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    output = run.stdout[-6000:] + run.stderr[-2000:]
    report = json.loads(report_path.read_text())
    cases = report["test_cases"]
    print(f"\nschemathesis ran {cases['generated']} cases on "
          f"{report['operations']['tested']} operations in {elapsed:.0f} s")
    assert report["failures"] == [] and report["errors"] == [], output
    assert run.returncode == 0 and cases["with_failures"] == cases["errored"] == 0, output
    # green for the right reason: every operation and phase ran, with a token that worked
    assert report["operations"]["tested"] == report["operations"]["total"] > 20, output
    assert {p: s["status"] for p, s in report["phases"].items()} == dict.fromkeys(
        PHASES.split(","), "success"), output
    assert report["warnings"]["missing_auth"] == [], output
    assert cases["generated"] > 1000, output
