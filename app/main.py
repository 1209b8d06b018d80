"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app import __version__, logs
from app.api import export, importance, leaderboard, points, studies, tokens, trials, workers
from app.config import Settings
from app.db import Database
from app.deps import AuthCache
from app.migrate import schema_problem, upgrade
from app.security import RequestGuard
from app.services import tokens as token_service
from app.services.trials import expire_leases
from app.validation import install_error_handlers
from app.web import pages

log = logging.getLogger("hpsearch.server")
API_PREFIX = "/api/v1"


class LeaseSweeper(threading.Thread):
    """Requeues trials whose lease ran out, every ``interval`` seconds."""

    def __init__(self, db: Database, settings: Settings) -> None:
        super().__init__(name="lease-sweeper", daemon=True)
        self.db, self.settings = db, settings
        self.stopped = threading.Event()

    def run(self) -> None:
        log.info("lease sweeper started", extra={"fields": {"every": self.settings.sweep_seconds}})
        while not self.stopped.wait(self.settings.sweep_seconds):
            try:
                with self.db.write() as session:
                    n = expire_leases(session, max_attempts=self.settings.max_attempts)
                if n:
                    log.info("expired leases", extra={"fields": {"trials": n}})
            except Exception:
                log.exception("lease sweep failed")


def prepare_database(db: Database, settings: Settings) -> None:
    """Migrate (or refuse an old schema) and install bootstrap tokens from the environment."""
    if settings.auto_migrate:
        upgrade(db.engine)
    else:
        problem = schema_problem(db.engine)
        if problem:
            raise RuntimeError(problem)
    with db.write() as session:
        if settings.admin_token:
            token_service.ensure_token(
                session, role="admin", token=settings.admin_token, name="bootstrap admin"
            )
        if settings.worker_token:
            token_service.ensure_token(
                session, role="worker", token=settings.worker_token, name="bootstrap worker"
            )


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Open (and migrate) the database and run the lease sweeper while the app serves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        prepare_database(db, settings)
        app.state.db, app.state.settings = db, settings
        app.state.auth_cache = AuthCache()
        sweeper = LeaseSweeper(db, settings)
        sweeper.start()
        try:
            yield
        finally:
            sweeper.stopped.set()
            sweeper.join(timeout=5)
            db.dispose()

    return lifespan


operations = APIRouter(tags=["operations"])


@operations.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@operations.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The database answers and its schema is current."""
    db: Database = request.app.state.db
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        problem = schema_problem(db.engine)
    except OperationalError as exc:
        problem = f"database unreachable: {exc.orig}"
    if problem:
        return JSONResponse({"status": "unavailable", "detail": problem}, status_code=503)
    return JSONResponse({"status": "ready"})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database is opened (and migrated) when it starts."""
    settings = settings or Settings()
    lifespan = _lifespan(settings)
    app = FastAPI(
        title="hpsearch",
        version=__version__,
        summary="Hyperparameter random search with coarse-to-fine refinement",
        lifespan=lifespan,
    )
    install_error_handlers(app, api_prefix=API_PREFIX)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(logs.AccessLogMiddleware)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=1)

    @app.exception_handler(OperationalError)
    async def database_busy(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        return JSONResponse(
            {"detail": "database unavailable, retry shortly"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    app.include_router(operations)
    for router in (studies, trials, leaderboard, workers, tokens, export, points, importance):
        app.include_router(router.router, prefix=API_PREFIX)
    pages.mount(app)
    return app
