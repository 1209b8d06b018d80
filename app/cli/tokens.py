"""``hpsearch token create|list|revoke``: over the API, or straight on the database."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from app.cli import output
from app.cli.serve import open_database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

ROLES = ("admin", "submit", "worker", "read")


def register(sub: argparse._SubParsersAction, client_options: Callable) -> None:
    p = sub.add_parser("token", help="create, list and revoke API tokens")
    tsub = p.add_subparsers(dest="token_command", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        client_options(q)
        q.add_argument(
            "--db",
            help="work on this database directly instead of over the API "
            "(how the first token is made on a server that binds beyond loopback)",
        )

    c = tsub.add_parser("create", help="create a token and print it once")
    c.add_argument("--role", required=True, choices=ROLES)
    c.add_argument("--name", default="", help="a label to recognise it by")
    common(c)
    c.set_defaults(handler=create)
    ls = tsub.add_parser("list", help="list tokens (never their secrets)")
    common(ls)
    ls.set_defaults(handler=list_tokens)
    r = tsub.add_parser("revoke", help="revoke a token by id")
    r.add_argument("id", type=int)
    common(r)
    r.set_defaults(handler=revoke)


def _direct(args: argparse.Namespace, fn: Callable[[Session, ModuleType], object]) -> object:
    from app.api import convert

    db, _ = open_database(args.db)
    try:
        with db.write() as session:
            return fn(session, convert)
    finally:
        db.dispose()


def create(args: argparse.Namespace) -> int:
    if args.db:
        from app.services import tokens

        def make(session: Session, convert: ModuleType) -> dict[str, Any]:
            row, secret = tokens.create_token(session, role=args.role, name=args.name)
            return {**convert.token_out(row).model_dump(mode="json"), "token": secret}

        created = _direct(args, make)
    else:
        with output.client(args) as api:
            created = api.post("/api/v1/tokens", {"role": args.role, "name": args.name})
    assert isinstance(created, dict)
    print(created["token"])
    output.note(f"{created['role']} token #{created['id']} created; it is shown only once.")
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    if args.db:
        from app.services import tokens

        rows = _direct(
            args,
            lambda s, convert: [convert.token_out(t).model_dump(mode="json")
                                for t in tokens.list_tokens(s)],
        )
    else:
        with output.client(args) as api:
            rows = api.get("/api/v1/tokens")
    assert isinstance(rows, list)
    output.table(
        ["id", "name", "role", "prefix", "revoked"],
        [[t["id"], t["name"], t["role"], t["prefix"] + "…", t["revoked"]] for t in rows],
        title="API tokens",
    )
    return 0


def revoke(args: argparse.Namespace) -> int:
    if args.db:
        from app.services import tokens

        _direct(args, lambda s, convert: tokens.revoke(s, args.id))
    else:
        with output.client(args) as api:
            api.request("DELETE", f"/api/v1/tokens/{args.id}")
    output.note(f"token #{args.id} revoked")
    return 0
