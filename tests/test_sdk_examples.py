"""The README's Python example and the SDK examples, run against a real server."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def readme_sdk_example() -> str:
    """The first Python block of the README's section on the Python client, verbatim."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### From Python: `import hpsearch`", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's Python section has no python block"
    return match.group(1)


def run(args: list[str], server_url: str, cwd: Path, timeout: float = 300) -> str:
    env = {**os.environ, "HPSEARCH_SERVER": server_url}
    env.pop("HPSEARCH_TOKEN", None)
    out = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def studies(server_url: str) -> list[dict]:
    return httpx.get(f"{server_url}/api/v1/studies").json()["items"]


def test_the_readme_example_runs(server, tmp_path):
    code = readme_sdk_example()
    assert "import hpsearch" in code and "study.trials(" in code
    (tmp_path / "readme_example.py").write_text(code)
    out = run(["readme_example.py"], server.url, tmp_path)
    assert out.startswith("best loss ")
    (study,) = studies(server.url)
    assert study["state"] == "completed" and sum(study["counts"].values()) == 8
    assert set(study["counts"]) <= {"completed", "pruned"}


@SQLITE_ONLY
def test_the_sklearn_example_runs_on_the_trial_loop(server, tmp_path):
    out = run([str(REPO / "examples" / "sdk_sklearn.py"), "--trials", "4"], server.url,
              tmp_path)
    assert out.count("trial ") >= 4 and "best: val_accuracy" in out
    (study,) = studies(server.url)
    assert study["name"] == "digits-sgd-custom-objective"
    assert sum(n for s, n in study["counts"].items() if s != "queued") == 4


@SQLITE_ONLY
def test_the_notebook_example_optimizes_with_two_workers(server, tmp_path):
    out = run([str(REPO / "examples" / "sdk_notebook.py")], server.url, tmp_path)
    assert "metrics.val_accuracy" in out and "best:" in out
    (study,) = studies(server.url)
    assert study["state"] == "completed" and sum(study["counts"].values()) == 16
    assert set(study["counts"]) <= {"completed", "pruned", "aborted"}


@SQLITE_ONLY
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed")
def test_the_pytorch_example_runs(server, tmp_path):
    out = run([str(REPO / "examples" / "sdk_pytorch.py"), "--trials", "3"], server.url,
              tmp_path)
    assert out.count("trial ") >= 3 and "best: val_accuracy" in out
    (study,) = studies(server.url)
    assert sum(n for s, n in study["counts"].items() if s != "queued") == 3
