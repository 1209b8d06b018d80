"""app.search is pure: importing it loads no web, database or HTTP library."""

import subprocess
import sys


def test_search_package_imports_no_server_libraries() -> None:
    code = (
        "import sys, app.search.space, app.search.samplers, app.search.trials, "
        "app.search.edges, app.search.refine, app.search.pruning\n"
        "print(sorted(m for m in ('fastapi', 'sqlalchemy', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
