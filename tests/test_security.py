"""The request guard: an open server refuses what a web page could send it (foreign Host,
cross-site state changes), and every request body has a size limit."""

from __future__ import annotations

import json
import select
import socket
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.security import is_loopback_host
from tests.conftest import ServerProcess, custom_spec

API = "/api/v1"


def new_study(client: Any, headers: dict[str, str] | None = None) -> int:
    r = client.post(f"{API}/studies", json=custom_spec(), headers=headers or {})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def study_state(client: Any, sid: int, headers: dict[str, str] | None = None) -> str:
    return client.get(f"{API}/studies/{sid}", headers=headers or {}).json()["state"]


def test_a_cross_origin_cancel_is_refused_and_the_study_keeps_running(client):
    sid = new_study(client)
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:9999"},  # another port is another origin
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Content-Type": "text/plain"},  # what a cross-site HTML form can send
        {"Content-Type": "application/x-www-form-urlencoded"},
    ):
        r = client.post(f"{API}/studies/{sid}/cancel", headers=headers)
        assert r.status_code == 403, (headers, r.text)
        assert "refused" in r.json()["detail"]
        assert study_state(client, sid) == "running", headers
    r = client.post(f"{API}/studies/{sid}/pause", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and study_state(client, sid) == "running"


def test_a_cross_origin_create_stores_nothing(client):
    r = client.post(f"{API}/studies", json=custom_spec(),
                    headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert client.get(f"{API}/studies").json()["total"] == 0


def test_same_origin_and_non_browser_requests_pass(client):
    sid = new_study(client)  # no Origin, no Sec-Fetch-Site: the CLI and the workers
    same = {"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-origin"}
    assert client.post(f"{API}/studies/{sid}/pause", headers=same).status_code == 200
    assert client.post(f"{API}/studies/{sid}/resume",
                       headers={"Sec-Fetch-Site": "none"}).status_code == 200
    assert client.post(f"{API}/studies/{sid}/cancel").status_code == 200
    assert study_state(client, sid) == "cancelled"
    # a foreign Origin on a read changes nothing and reads nothing it could use (no CORS)
    assert client.get(f"{API}/studies", headers={"Origin": "http://evil.example"}
                      ).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io",
                                  "localhost.evil.example", "10.0.0.5:8000", "[::2]:8000"])
def test_a_foreign_host_is_refused(client, host):
    r = client.get(f"{API}/studies", headers={"Host": host})
    assert r.status_code == 403 and "host" in r.json()["detail"]
    r = client.post(f"{API}/studies", json=custom_spec(), headers={"Host": host})
    assert r.status_code == 403
    assert client.get(f"{API}/studies").json()["total"] == 0


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8000", "127.0.0.1", "127.0.0.1:8000",
                                  "[::1]", "[::1]:8000", "localhost.", "127.1.2.3:80"])
def test_loopback_hosts_pass(client, host):
    assert client.get(f"{API}/studies", headers={"Host": host}).status_code == 200
    assert client.get("/", headers={"Host": host}).status_code == 200


def test_loopback_host_parsing():
    assert is_loopback_host(b"[::1]:8000") and is_loopback_host(b"::1")
    assert not is_loopback_host(b"[::1") and not is_loopback_host(b"")
    assert not is_loopback_host(b"example.com:80:80")


def test_with_tokens_the_host_and_origin_checks_are_off(client):
    """A page on another site holds no token and a browser adds none by itself; a reverse
    proxy may rename the host."""
    admin = client.post(f"{API}/tokens", json={"role": "admin"}).json()["token"]
    auth = {"Authorization": f"Bearer {admin}"}
    sid = new_study(client, auth)
    proxied = {**auth, "Host": "hpsearch.example.org", "Origin": "https://hpsearch.example.org"}
    assert client.get(f"{API}/studies/{sid}", headers=proxied).status_code == 200
    # without a token a foreign request is still turned away, by auth this time
    r = client.post(f"{API}/studies/{sid}/cancel", headers={"Origin": "http://evil.example"})
    assert r.status_code == 401 and study_state(client, sid, auth) == "running"


# -- body size limit ------------------------------------------------------------------------

LIMIT = 4096


@pytest.fixture
def small_client(database_url: str) -> Any:
    from fastapi.testclient import TestClient

    from app.main import create_app

    settings = Settings(database_url=database_url, sweep_seconds=3600, max_body_bytes=LIMIT)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        yield c


def big_spec() -> dict[str, Any]:
    spec = custom_spec()
    spec["name"] = "x" * 200
    spec["space"].update({f"p{i:02d}": {"type": "choice", "values": [f"v{j}" * 20 for j in
                                                                   range(10)]}
                          for i in range(30)})
    return spec


def test_a_declared_large_body_gets_413_and_nothing_is_stored(small_client):
    body = json.dumps(big_spec()).encode()
    assert len(body) > LIMIT
    r = small_client.post(f"{API}/studies", content=body,
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert f"{LIMIT} bytes" in r.json()["detail"]
    assert small_client.get(f"{API}/studies").json()["total"] == 0


def test_a_streamed_body_without_length_is_cut_at_the_limit(small_client):
    body = json.dumps(big_spec()).encode()
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    r = small_client.post(f"{API}/studies", content=iter(chunks),
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    assert small_client.get(f"{API}/studies").json()["total"] == 0


def test_a_body_within_the_limit_passes(small_client):
    body = json.dumps(custom_spec()).encode()
    assert len(body) < LIMIT
    r = small_client.post(f"{API}/studies", content=iter([body[:100], body[100:]]),
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text


def test_the_default_limit_takes_the_largest_bulk_upload():
    """10,000 trials (the most one request may enqueue), 8 params and 10 metrics each."""
    item = {"params": {f"param_{i}": 0.00012345678901234567 for i in range(8)},
            "result": {"state": "completed",
                       "metrics": {f"metric_{i}": 0.9876543210987654 for i in range(10)}}}
    body = json.dumps({"trials": [item] * 10_000}).encode()
    assert len(body) < Settings().max_body_bytes


def chunked_post(port: int, path: str, chunks: list[bytes]) -> tuple[int, bytes, int]:
    """POST with Transfer-Encoding: chunked over a raw socket, stopping once the server
    answers: the status, the response body and how many body bytes went out."""
    sent, data = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        try:
            for chunk in chunks:
                if select.select([s], [], [], 0.05)[0]:
                    break  # the server has answered
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed the connection
        try:
            while part := s.recv(65536):
                data += part
        except ConnectionResetError:
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body, sent


@pytest.mark.slow
def test_a_real_server_cuts_a_chunked_upload(tmp_path):
    """A 20 MB chunked body against a real server: 413 long before the end, nothing kept."""
    srv = ServerProcess(f"sqlite:///{tmp_path / 'limit.db'}",
                        env={"HPSEARCH_MAX_BODY_BYTES": "65536"}).start()
    try:
        head = b'{"name": "' + b"x" * 100
        status, body, sent = chunked_post(srv.port, f"{API}/studies",
                                          [head] + [b"y" * 65536] * 300)
        assert status == 413 and b"too large" in body
        assert sent < 10 * 2**20
        studies = httpx.get(f"{srv.url}{API}/studies").json()
        assert studies["total"] == 0
    finally:
        srv.stop()


@pytest.mark.slow
def test_a_real_open_server_refuses_a_foreign_host_and_origin(tmp_path):
    srv = ServerProcess(f"sqlite:///{tmp_path / 'open.db'}").start()
    try:
        with httpx.Client(base_url=srv.url) as http:
            sid = http.post(f"{API}/studies", json=custom_spec()).json()["id"]
            assert http.get(f"{API}/studies", headers={"Host": "rebound.example"}
                            ).status_code == 403
            r = http.post(f"{API}/studies/{sid}/cancel",
                          headers={"Origin": "http://rebound.example"})
            assert r.status_code == 403
            assert http.get(f"{API}/studies/{sid}").json()["state"] == "running"
    finally:
        srv.stop()
