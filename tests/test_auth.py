"""Bearer tokens with roles: each role is refused what it may not do."""

from __future__ import annotations

from typing import Any

import pytest

from app.cli.serve import is_loopback
from tests.conftest import custom_spec


def make_token(client: Any, role: str, auth: dict | None = None) -> str:
    r = client.post("/api/v1/tokens", json={"role": role}, headers=auth or {})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(client: Any) -> dict[str, dict[str, str]]:
    admin = make_token(client, "admin")  # open mode: the first token needs none
    out = {"admin": bearer(admin)}
    for role in ("submit", "worker", "read"):
        out[role] = bearer(make_token(client, role, out["admin"]))
    return out


def test_open_until_a_token_exists_then_closed(client):
    assert client.get("/api/v1/studies").status_code == 200
    make_token(client, "admin")
    r = client.get("/api/v1/studies")
    assert r.status_code == 401 and "bearer token" in r.json()["detail"]
    bad = client.get("/api/v1/studies", headers=bearer("hps_wrong"))
    assert bad.status_code == 401


def test_tokens_are_stored_hashed(client, tokens):
    from sqlalchemy import select

    from app.models import ApiToken

    secrets = {h["Authorization"].split()[1] for h in tokens.values()}
    with client.app.state.db.read() as s:
        stored = set(s.scalars(select(ApiToken.token_hash)))
    assert not (stored & secrets) and len(stored) == 4


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("admin", True), ("submit", True), ("worker", False), ("read", False)],
)
def test_who_may_create_studies(client, tokens, role, allowed):
    r = client.post("/api/v1/studies", json=custom_spec(), headers=tokens[role])
    assert (r.status_code == 201) is allowed, r.text
    if not allowed:
        assert r.status_code == 403 and f"a {role} token may not submit" in r.json()["detail"]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("admin", True), ("submit", False), ("worker", True), ("read", False)],
)
def test_who_may_claim(client, tokens, role, allowed):
    client.post("/api/v1/studies", json=custom_spec(), headers=tokens["admin"])
    r = client.post("/api/v1/trials/claim", json={"worker": "w"}, headers=tokens[role])
    assert (r.status_code == 200) is allowed
    if not allowed:
        assert r.status_code == 403


@pytest.mark.parametrize("role", ["admin", "submit", "worker", "read"])
def test_every_role_may_read(client, tokens, role):
    sid = client.post("/api/v1/studies", json=custom_spec(), headers=tokens["admin"]).json()["id"]
    for path in ("/api/v1/studies", f"/api/v1/studies/{sid}",
                 f"/api/v1/studies/{sid}/leaderboard", "/api/v1/leaderboard"):
        assert client.get(path, headers=tokens[role]).status_code == 200, path


@pytest.mark.parametrize("role", ["submit", "worker", "read"])
def test_only_admin_manages_tokens(client, tokens, role):
    assert client.get("/api/v1/tokens", headers=tokens[role]).status_code == 403
    assert client.post("/api/v1/tokens", json={"role": "admin"},
                       headers=tokens[role]).status_code == 403
    assert client.get("/api/v1/tokens", headers=tokens["admin"]).status_code == 200


def test_revoked_token_is_refused(client, tokens):
    listed = client.get("/api/v1/tokens", headers=tokens["admin"]).json()
    read_id = next(t["id"] for t in listed if t["role"] == "read")
    assert client.delete(f"/api/v1/tokens/{read_id}", headers=tokens["admin"]).json()["revoked"]
    assert client.get("/api/v1/studies", headers=tokens["read"]).status_code == 401


def test_worker_cannot_change_study_state(client, tokens):
    sid = client.post("/api/v1/studies", json=custom_spec(), headers=tokens["admin"]).json()["id"]
    assert client.post(f"/api/v1/studies/{sid}/pause",
                       headers=tokens["worker"]).status_code == 403


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
