"""The pure cores import no web framework, ORM or HTTP client."""

from __future__ import annotations

import subprocess
import sys

import pytest

FORBIDDEN = ("fastapi", "sqlalchemy", "httpx", "starlette")


@pytest.mark.parametrize("package", ["app.search", "worker.nn"])
def test_pure_package_imports_no_server_libraries(package):
    import importlib
    import pkgutil

    mod = importlib.import_module(package)
    modules = [package] + [f"{package}.{m.name}" for m in pkgutil.iter_modules(mod.__path__)]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(','.join(sorted(n for n in {FORBIDDEN!r} if n in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert len(modules) > 3
    assert out.stdout.strip() == "", f"{package} loaded {out.stdout.strip()}"
