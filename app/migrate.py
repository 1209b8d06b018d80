"""Run and check Alembic migrations programmatically (the server and tests use this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

import migrations

SCRIPT_LOCATION = str(Path(migrations.__file__).parent)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.attributes["url"] = url
    return cfg


MIGRATION_LOCK = 727_001  # PostgreSQL advisory lock key: one migrator at a time


def upgrade(engine: Engine) -> None:
    """``alembic upgrade head``, safe when several servers start at once."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.execution_options(sqlite_immediate=True).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_problem(engine: Engine) -> str | None:
    """None when the schema is current, else a message saying how to upgrade."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return None
    return (
        f"database schema is at revision {current or 'none'}, this server needs {head}; "
        f"run `hpsearch migrate --db {engine.url.render_as_string(hide_password=True)}` "
        "(alembic upgrade head)"
    )
