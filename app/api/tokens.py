"""API tokens (admin only): create (shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from app.api import convert
from app.api.params import Id
from app.deps import DbDep, IsAdmin
from app.schemas import TokenCreate, TokenCreated, TokenOut
from app.services import tokens

router = APIRouter(prefix="/tokens", tags=["tokens"], dependencies=[IsAdmin])


@router.post("", status_code=status.HTTP_201_CREATED)
def create(body: TokenCreate, db: DbDep, request: Request) -> TokenCreated:
    request.app.state.auth_cache.clear()
    with db.write() as session:
        row, secret = tokens.create_token(session, role=body.role, name=body.name)
        return TokenCreated(**convert.token_out(row).model_dump(), token=secret)


@router.get("")
def list_tokens(db: DbDep) -> list[TokenOut]:
    with db.read() as session:
        return [convert.token_out(t) for t in tokens.list_tokens(session)]


@router.delete("/{token_id}")
def revoke(token_id: Id, db: DbDep, request: Request) -> TokenOut:
    with db.write() as session:
        row = convert.token_out(tokens.revoke(session, token_id))
    request.app.state.auth_cache.clear()
    return row
