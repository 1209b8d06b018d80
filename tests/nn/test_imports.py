"""worker.nn is pure: no web, database or HTTP libraries."""

from __future__ import annotations

import subprocess
import sys

MODULES = (
    "activations",
    "batchnorm",
    "config",
    "diagnostics",
    "gradcheck",
    "init",
    "layers",
    "losses",
    "model",
    "optim",
    "preprocessing",
    "schedules",
    "trainer",
)


def test_worker_nn_imports_no_server_libraries() -> None:
    imports = "; ".join(f"import worker.nn.{m}" for m in MODULES)
    code = (
        f"import sys; {imports}; import worker.datasets, worker.sanity; "
        "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
