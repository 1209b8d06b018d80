"""``hpsearch serve`` and ``hpsearch migrate``."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
from typing import TYPE_CHECKING

from app.cli.main import CliError
from app.config import DEFAULT_DATABASE_URL

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.config import Settings
    from app.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the API server (and the web page)")
    add_db_option(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(handler=serve)

    m = sub.add_parser("migrate", help="upgrade the database schema to the current version")
    add_db_option(m)
    m.set_defaults(handler=migrate)


def add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        default=os.environ.get("HPSEARCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="database URL: sqlite:///file.db (default) or postgresql+psycopg://user@host/db "
        "(env HPSEARCH_DATABASE_URL)",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
        except OSError:
            return False


def open_database(url: str) -> tuple[Database, Settings]:
    """Open and migrate the database, turning connection failures into one line."""
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    from app.config import Settings
    from app.db import Database
    from app.main import prepare_database

    try:
        settings = Settings(database_url=url)
    except ValidationError as exc:
        raise CliError("; ".join(e["msg"].removeprefix("Value error, ")
                                 for e in exc.errors())) from None
    db = Database(url)
    try:
        prepare_database(db, settings)
    except OperationalError as exc:
        db.dispose()
        raise CliError(f"cannot open database {url}: {exc.orig}") from None
    return db, settings


def server_app() -> FastAPI:
    """The app of one server process (uvicorn's factory); a process of ``--workers N``
    shuts down with the supervisor that started it."""
    from app.main import create_app
    from app.parent_death import guard_from_environment

    guard_from_environment()
    return create_app()


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app import logs
    from app.parent_death import SUPERVISOR_ENV
    from app.services.tokens import auth_enabled

    if args.workers < 1:
        raise CliError("--workers must be >= 1")
    db, _ = open_database(args.db)
    with db.read() as session:
        has_auth = auth_enabled(session)
    db.dispose()
    loopback = is_loopback(args.host)
    if not loopback and not has_auth:
        raise CliError(
            f"refusing to bind {args.host} without auth: no API token exists. Create one with "
            f"`hpsearch token create --role admin --db {args.db}` (or set HPSEARCH_ADMIN_TOKEN), "
            "or bind 127.0.0.1"
        )
    os.environ["HPSEARCH_DATABASE_URL"] = args.db
    if not loopback:
        os.environ["HPSEARCH_REQUIRE_AUTH"] = "1"
    if args.workers > 1:
        os.environ[SUPERVISOR_ENV] = str(os.getpid())
    else:
        os.environ.pop(SUPERVISOR_ENV, None)
    auth = "on" if has_auth else "off (loopback only)"
    print(f"hpsearch serving http://{args.host}:{args.port}  database {args.db}  auth {auth}",
          flush=True)
    uvicorn.run(
        f"{__name__}:server_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_config=logs.logging_config(args.log_level),
        log_level=args.log_level,
    )
    return 0


def migrate(args: argparse.Namespace) -> int:
    from app.migrate import current_revision

    db, _ = open_database(args.db)
    print(f"database {args.db} is at revision {current_revision(db.engine)}")
    db.dispose()
    return 0
