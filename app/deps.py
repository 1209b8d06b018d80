"""Request dependencies: the database, and bearer-token roles."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
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
        """True while no active token exists anywhere: the server then needs none."""
        if self._open and self._open[1] > time.monotonic():
            return self._open[0]
        with db.read() as session:
            is_open = not tokens.any_active(session)
        self._open = (is_open, time.monotonic() + self.ttl)
        return is_open


async def current_role(request: Request, db: DbDep, settings: SettingsDep) -> str:
    """The caller's role; with no token configured anywhere the server is open (loopback).

    Async on purpose: dependencies run on the event loop instead of a thread hop each;
    the rare cache miss is one indexed primary-key-sized query."""
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


def require(permission: str) -> Callable[[str], Awaitable[str]]:
    """A dependency refusing callers whose role lacks ``permission``."""
    allowed = PERMISSIONS[permission]

    async def check(role: Annotated[str, Depends(current_role)]) -> str:
        if role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"a {role} token may not {permission}; needs one of: {', '.join(sorted(allowed))}",
            )
        return role

    return check


CanRead = Depends(require("read"))
CanSubmit = Depends(require("submit"))
CanWork = Depends(require("work"))
IsAdmin = Depends(require("admin"))
