"""An open server (no token, loopback) in headless Chromium: its own page works, a page
from another origin cannot drive it, and a rebound DNS name reaches nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import ServerProcess, custom_spec
from tests.test_web import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium"),
]
API = "/api/v1"
REBOUND = "rebound.test"  # resolved to 127.0.0.1 by the browser, as after DNS rebinding

# A hostile page: a body-less fetch and an HTML form, both cross-site POSTs to /cancel.
HOSTILE = """<!doctype html><body>
<form id="f" method="post" enctype="text/plain" action="{target}" target="sink">
  <input name="x" value="y"></form>
<iframe name="sink"></iframe>
<script>
  fetch("{target}", {{method: "POST", mode: "no-cors"}})
    .then(() => {{ document.title = "fetched"; document.getElementById("f").submit(); }},
          () => {{ document.title = "fetch-failed"; document.getElementById("f").submit(); }});
</script></body>"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("open") / "open.db"
    srv = ServerProcess(f"sqlite:///{db}").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"])
        yield chromium
        chromium.close()


@pytest.fixture
def hostile_site(server: ServerProcess) -> Iterator[tuple[str, list[str]]]:
    """Another origin on this machine (localhost, another port) serving ``HOSTILE``."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            target = self.path.removeprefix("/?target=")
            body = HOSTILE.format(target=target).encode()
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


def test_the_page_works_on_an_open_server(browser, server):
    sid = httpx.post(f"{server.url}{API}/studies", json=custom_spec(name="open-study")).json()["id"]
    for base in (server.url, f"http://localhost:{server.port}"):
        tab = browser.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        tab.goto(base + "/")
        tab.wait_for_selector(f'#studies tr[data-study-id="{sid}"]')
        assert "open-study" in tab.locator("#studies").inner_text()
        assert tab.locator("#token-dialog").count() == 0
        tab.goto(f"{base}/studies/{sid}")
        tab.wait_for_function("performance.getEntriesByName('study-ready').length > 0")
        assert not errors, errors
        tab.close()


def test_a_page_from_another_origin_cannot_cancel_a_study(browser, server, hostile_site):
    sid = httpx.post(f"{server.url}{API}/studies", json=custom_spec()).json()["id"]
    origin, seen = hostile_site
    tab = browser.new_page()
    refused: list[int] = []
    tab.on("response",
           lambda r: refused.append(r.status) if r.url.startswith(server.url) else None)
    tab.goto(f"{origin}/?target={server.url}{API}/studies/{sid}/cancel")
    tab.wait_for_function("document.title === 'fetched' || document.title === 'fetch-failed'")
    tab.wait_for_timeout(1000)  # let the form's POST land too
    tab.close()
    assert seen, "the hostile page was never served"
    assert httpx.get(f"{server.url}{API}/studies/{sid}").json()["state"] == "running"
    assert refused and set(refused) == {403}, refused  # both reached the server, both refused


def test_a_rebound_dns_name_reaches_nothing(browser, server):
    tab = browser.new_page()
    response = tab.goto(f"http://{REBOUND}:{server.port}{API}/studies")
    assert response is not None and response.status == 403
    assert "refused" in tab.content()
    tab.close()
