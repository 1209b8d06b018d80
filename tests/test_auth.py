"""Bearer tokens with roles: each role is refused what it may not do."""

from __future__ import annotations

from secrets import token_hex
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


def stored_tokens(client: Any) -> list[Any]:
    from app.services.tokens import list_tokens

    with client.app.state.db.read() as s:
        return [(t.role, t.prefix, t.revoked_at) for t in list_tokens(s)]


def test_revoking_the_last_token_leaves_the_server_closed(client):
    admin = bearer(make_token(client, "admin"))
    token_id = client.get("/api/v1/tokens", headers=admin).json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=admin).status_code == 200
    assert client.get("/api/v1/studies").status_code == 401
    assert client.post("/api/v1/studies", json=custom_spec()).status_code == 401
    r = client.post("/api/v1/tokens", json={"role": "admin"})
    assert r.status_code == 401
    assert len(stored_tokens(client)) == 1  # the revoked one; nothing new was minted


def test_after_the_last_revocation_only_the_database_mints_a_token(client):
    from app.services.tokens import create_token

    admin = bearer(make_token(client, "admin"))
    token_id = client.get("/api/v1/tokens", headers=admin).json()[0]["id"]
    client.delete(f"/api/v1/tokens/{token_id}", headers=admin)
    with client.app.state.db.write() as s:  # what `hpsearch token create --db` does
        _, secret = create_token(s, role="admin")
    assert client.get("/api/v1/studies", headers=bearer(secret)).status_code == 200
    assert client.get("/api/v1/studies").status_code == 401


def test_a_server_restarted_on_revoked_tokens_stays_closed(settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        admin = bearer(make_token(c, "admin"))
        c.delete(f"/api/v1/tokens/{c.get('/api/v1/tokens', headers=admin).json()[0]['id']}",
                 headers=admin)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        assert c.get("/api/v1/studies").status_code == 401
        assert c.post("/api/v1/tokens", json={"role": "admin"}).status_code == 401


@pytest.mark.parametrize("field", ["admin_token", "worker_token"])
def test_a_short_bootstrap_token_is_refused(field):
    from pydantic import ValidationError

    from app.config import Settings

    with pytest.raises(ValidationError, match=f"HPSEARCH_{field.upper()} is 31 characters"):
        Settings(**{field: "x" * 31})
    assert getattr(Settings(**{field: "x" * 32}), field) == "x" * 32


@pytest.mark.slow
def test_serve_refuses_a_short_bootstrap_token_and_stores_nothing(tmp_path):
    from tests.test_cli import hpsearch

    db = tmp_path / "short.db"
    out = hpsearch("serve", "--db", f"sqlite:///{db}", "--port", "1",
                   env={"HPSEARCH_ADMIN_TOKEN": "hps_short-secret"})
    assert out.returncode == 2, out.stderr
    assert "error: HPSEARCH_ADMIN_TOKEN is 16 characters" in out.stderr
    assert "at least 32" in out.stderr and "Traceback" not in out.stderr
    assert not db.exists()


def test_the_stored_prefix_keeps_four_secret_characters(database_url):
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    env_admin = "Kq" + token_hex(19)  # 40 characters, no hps_ marker
    env_worker = "hps_" + token_hex(16)
    settings = Settings(database_url=database_url, admin_token=env_admin,
                        worker_token=env_worker, sweep_seconds=3600)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        made = make_token(c, "read", bearer(env_admin))
        listed = {t["role"]: t["prefix"] for t in
                  c.get("/api/v1/tokens", headers=bearer(env_admin)).json()}
    assert listed == {"admin": env_admin[:4], "worker": env_worker[:8], "read": made[:8]}
    assert made.startswith("hps_")


def test_migration_0004_shortens_prefixes_stored_before(database_url):
    from alembic import command
    from sqlalchemy import text

    from app.db import Database
    from app.migrate import alembic_config, upgrade

    db = Database(database_url)
    cfg = alembic_config(database_url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(text(
            "INSERT INTO api_tokens (name, role, token_hash, prefix, created_at) VALUES "
            "('env', 'admin', 'h1', 'Kq3f9a0b', 0), ('made', 'read', 'h2', 'hps_AbCd', 0)"))
    upgrade(db.engine)
    with db.engine.connect() as conn:
        prefixes = dict(conn.execute(text("SELECT name, prefix FROM api_tokens")).all())
    db.dispose()
    assert prefixes == {"env": "Kq3f", "made": "hps_AbCd"}
