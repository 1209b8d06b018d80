"""The schema comes from Alembic alone, and the models agree with it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.config import Settings
from app.db import Database
from app.main import create_app, prepare_database
from app.migrate import current_revision, head_revision, upgrade
from app.models import Base


def test_models_and_migrations_agree(database_url):
    db = Database(database_url)
    upgrade(db.engine)
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    db.dispose()
    assert diff == []


def test_upgrade_is_idempotent_and_reaches_head(database_url):
    db = Database(database_url)
    upgrade(db.engine)
    upgrade(db.engine)
    assert current_revision(db.engine) == head_revision()
    tables = set(inspect(db.engine).get_table_names())
    db.dispose()
    assert {"studies", "stages", "trials", "trial_reports", "warnings", "api_tokens",
            "workers"} <= tables


def test_server_refuses_an_old_schema_without_auto_migrate(database_url):
    from fastapi.testclient import TestClient

    app = create_app(Settings(database_url=database_url, auto_migrate=False))
    try:
        with TestClient(app):
            raise AssertionError("the server started on an empty schema")
    except RuntimeError as exc:
        assert "hpsearch migrate" in str(exc) and "alembic upgrade head" in str(exc)


def test_readyz_reports_a_current_schema(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


@pytest.mark.slow  # runs `hpsearch migrate` as a process
def test_migrate_command(database_url):
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate", "--db", database_url],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert f"at revision {head_revision()}" in out.stdout
    db = Database(database_url)
    prepare_database(db, Settings(database_url=database_url, auto_migrate=False))
    db.dispose()
