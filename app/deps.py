"""Request dependencies: the database, and bearer-token roles."""

from __future__ import annotations

from collections.abc import Callable
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


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def current_role(request: Request, db: DbDep) -> str:
    """The caller's role; with no token configured anywhere the server is open (loopback)."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    with db.read() as session:
        if scheme.lower() == "bearer" and credentials:
            row = tokens.lookup(session, credentials.strip())
            if row is None:
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "invalid or revoked token",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return row.role
        if tokens.any_active(session):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "this server requires a bearer token (Authorization: Bearer ...)",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return "admin"


def require(permission: str) -> Callable[[str], str]:
    """A dependency refusing callers whose role lacks ``permission``."""
    allowed = PERMISSIONS[permission]

    def check(role: Annotated[str, Depends(current_role)]) -> str:
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
