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
SHOWN_CHARS = 4


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def shown_prefix(token: str) -> str:
    """What is kept of a token in clear to tell it apart in a listing: the public ``hps_``
    marker, if any, and the next ``SHOWN_CHARS`` (4) characters.

    Four characters give away at most 24 bits. A generated token keeps 39 URL-safe base64
    characters (234 bits) hidden; a token from the environment has at least 32 characters
    (``app.config.MIN_TOKEN_CHARS``), so at least 24 stay hidden: 96 bits even in hex, far
    beyond guessing through an API that answers a few thousand requests a second."""
    marker = TOKEN_PREFIX if token.startswith(TOKEN_PREFIX) else ""
    return marker + token[len(marker) : len(marker) + SHOWN_CHARS]


def create_token(
    session: Session, *, role: str, name: str = "", token: str | None = None
) -> tuple[ApiToken, str]:
    """Store a new token (or a given one) and return it in clear, for showing once."""
    token = token or TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name or role,
        role=role,
        token_hash=hash_token(token),
        prefix=shown_prefix(token),
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


def auth_enabled(session: Session) -> bool:
    """True once any token was ever created. Revoking keeps the row, so a server that had
    tokens never turns open again: with every token revoked, only a token made on the
    database (``hpsearch token create --db``, or one from the environment at start) lets
    anyone in."""
    return bool(session.scalar(select(exists().select_from(ApiToken))))


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke(session: Session, token_id: int) -> ApiToken:
    """Mark the token revoked; its row stays (see ``auth_enabled``)."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"token {token_id} not found")
    if row.revoked_at is None:
        row.revoked_at = time.time()
    return row
