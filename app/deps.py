"""Request dependencies: the database, and bearer-token roles."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from app.config import Settings
from app.db import Database
from app.services import tokens

# Which roles may do what: admin does everything, submit manages studies, worker runs trials.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset({"admin", "submit", "worker", "read"}),
    "submit": frozenset({"admin", "submit"}),
    "work": frozenset({"admin", "worker"}),
    "admin": frozenset({"admin"}),
}


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


class AuthCache:
    """Token lookups remembered for a few seconds, so a request costs no extra query.

    A revoked token keeps working on other server processes for at most ``ttl`` seconds;
    this process forgets everything the moment a token is created or revoked here."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._roles: dict[str, tuple[str | None, float]] = {}
        self._open: tuple[bool, float] | None = None

    def clear(self) -> None:
        self._roles.clear()
        self._open = None

    def role(self, db: Database, token: str) -> str | None:
        hit = self._roles.get(token)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        with db.read() as session:
            row = tokens.lookup(session, token)
        role = row.role if row else None
        if len(self._roles) > 10_000:
            self._roles.clear()
        self._roles[token] = (role, time.monotonic() + self.ttl)
        return role

    def is_open(self, db: Database) -> bool:
        """True while no token was ever created (``tokens.auth_enabled``): the server then
        needs none. Once closed it stays closed, so only a miss of an open server queries."""
        if self._open and (not self._open[0] or self._open[1] > time.monotonic()):
            return self._open[0]
        with db.read() as session:
            is_open = not tokens.auth_enabled(session)
        self._open = (is_open, time.monotonic() + self.ttl)
        return is_open


def role_of(request: Request, db: Database, settings: Settings) -> str:
    """The caller's role; while no token was ever created the server is open (loopback).

    Plain and synchronous: it runs on the event loop, and only a cache miss (every few
    seconds) costs one indexed query."""
    cache: AuthCache = request.app.state.auth_cache
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        role = cache.role(db, credentials.strip())
        if role is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "invalid or revoked token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return role
    if settings.require_auth or not cache.is_open(db):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this server requires a bearer token (Authorization: Bearer ...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return "admin"


def check_role(role: str, permission: str) -> str:
    """``role`` when it may do ``permission``; 403 naming the roles that may."""
    allowed = PERMISSIONS[permission]
    if role not in allowed:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"a {role} token may not {permission}; needs one of: {', '.join(sorted(allowed))}",
        )
    return role


async def current_role(request: Request, db: DbDep, settings: SettingsDep) -> str:
    """The caller's role (see ``role_of``); async, so it runs without a thread hop."""
    return role_of(request, db, settings)


def require(permission: str) -> Callable[[str], Awaitable[str]]:
    """A dependency refusing callers whose role lacks ``permission``."""
    if permission not in PERMISSIONS:
        raise KeyError(permission)

    async def check(role: Annotated[str, Depends(current_role)]) -> str:
        return check_role(role, permission)

    return check


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What a worker-protocol endpoint needs, for a caller allowed to work."""

    db: Database
    settings: Settings


async def worker_context(request: Request) -> WorkerContext:
    """The database and settings, once the caller's role may work (401/403 as ``CanWork``).

    One dependency instead of the chain get_db, get_settings, current_role, require:
    the worker endpoints are the hot path, and each dependency costs FastAPI a resolve."""
    state = request.app.state
    db, settings = state.db, state.settings
    check_role(role_of(request, db, settings), "work")
    return WorkerContext(db, settings)


CanRead = Depends(require("read"))
CanSubmit = Depends(require("submit"))
CanWork = Depends(require("work"))
IsAdmin = Depends(require("admin"))
WorkerDep = Annotated[WorkerContext, Depends(worker_context)]
