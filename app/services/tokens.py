"""API tokens: created once, stored as SHA-256 hashes, checked per request."""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models import ApiToken

TOKEN_PREFIX = "hps_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, *, role: str, name: str = "", token: str | None = None
) -> tuple[ApiToken, str]:
    """Store a new token (or a given one) and return it in clear, for showing once."""
    token = token or TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name or role,
        role=role,
        token_hash=hash_token(token),
        prefix=token[:8],
        created_at=time.time(),
    )
    session.add(row)
    session.flush()
    return row, token


def ensure_token(session: Session, *, role: str, token: str, name: str) -> None:
    """Make a token given by the environment valid (idempotent, for bootstrapping)."""
    if session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(token))):
        return
    create_token(session, role=role, name=name, token=token)


def lookup(session: Session, token: str) -> ApiToken | None:
    return session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )


def any_active(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(ApiToken.revoked_at.is_(None)))))


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke(session: Session, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"token {token_id} not found")
    if row.revoked_at is None:
        row.revoked_at = time.time()
    return row
