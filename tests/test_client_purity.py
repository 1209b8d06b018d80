"""The client side (``hpsearch`` and the worker) imports no server code: no FastAPI,
SQLAlchemy, Alembic, uvicorn or psycopg, and no ``app`` module."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each check runs a fresh interpreter

SERVER = ("fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "psycopg", "app")


def loaded_after(imports: str) -> list[str]:
    code = (f"import sys\n{imports}\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {SERVER!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return ast.literal_eval(out.stdout)


@pytest.mark.parametrize("imports", [
    "import hpsearch; hpsearch.connect, hpsearch.Trial, hpsearch.LeaseLost",
    "import hpsearch.client, hpsearch.optimize, hpsearch.lease, hpsearch.wire",
    "import worker.cli, worker.loop, worker.runner, worker.supervisor, worker.heartbeat",
])
def test_client_modules_load_no_server_code(imports):
    assert loaded_after(imports) == []


def test_the_version_alone_loads_no_http_client():
    code = ("import sys, hpsearch\nprint(hpsearch.__version__, "
            "sorted(m for m in ('httpx', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.split(" ", 1)[1].strip() == "[]"
