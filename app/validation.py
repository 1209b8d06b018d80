"""Every malformed request answered with a 4xx in FastAPI's shape, and documented.

- Validation errors always serialise, whatever the input held (NaN, infinity, lone
  surrogates, deep nesting): FastAPI's own handler answers those with a 500.
- A service's ``Invalid`` (422) takes the same shape as a schema error:
  ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``; other service errors are
  ``{"detail": "..."}``.
- Text no database stores (a NUL character, a lone surrogate) is refused with a 422 naming
  where it was, in the path, the query or any field of a JSON body.
- The OpenAPI document lists the error answers each operation gives.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import Invalid, ServiceError

MAX_ERROR_DEPTH = 8
# JSON escapes that may decode to text no database stores: NUL, and any surrogate
# (paired ones are fine, a lone one is not; the parsed body tells).
SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
ERROR_MESSAGE = {
    "title": "ErrorMessage",
    "type": "object",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
}
ERROR_DESCRIPTIONS = {
    401: "No valid bearer token",
    403: "The token's role may not do this",
    404: "Not found",
    409: "The current state forbids it (e.g. a lost lease or a cancelled study)",
    413: "The request body is too large",
    503: "The database is unavailable; retry after Retry-After seconds",
}


def install_error_handlers(app: FastAPI, *, api_prefix: str = "/api/") -> None:
    """Answer validation and service errors in FastAPI's shape, refuse unstorable text
    and document the error answers of every operation under ``api_prefix``."""
    app.add_exception_handler(RequestValidationError, _request_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_middleware(UnstorableText)
    document_errors(app, api_prefix)


def error_item(loc: list[str | int], msg: str, kind: str, value: Any = None) -> dict[str, Any]:
    item: dict[str, Any] = {"loc": loc, "msg": msg, "type": kind}
    if value is not None:
        item["input"] = plain(value)
    return item


def invalid_response(items: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": items}, status_code=422)


async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    return invalid_response([plain(e) for e in exc.errors()])


async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
    if isinstance(exc, Invalid):
        loc: list[str | int] = [exc.location]
        if exc.field:
            loc += [int(p) if p.isdigit() else p for p in exc.field.split(".")]
        return invalid_response([error_item(loc, exc.message, "value_error")])
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code)


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` as strict JSON: non-finite floats and other objects as strings, lone
    surrogates escaped, and anything nested deeper than ``MAX_ERROR_DEPTH`` cut to "..."."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if depth >= MAX_ERROR_DEPTH:
        return "..."
    if isinstance(value, dict):
        return {plain(str(k)): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    return plain(str(value))


def unstorable(text: str) -> bool:
    """Whether ``text`` holds a NUL character or a lone surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unstorable_in(value: Any) -> list[str | int] | None:
    """Where the first unstorable key or string of a parsed JSON value is, or None."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if unstorable(item):
                return path
        elif isinstance(item, dict):
            for k, v in item.items():
                if unstorable(k):
                    return [*path, plain(k)]
                stack.append((v, [*path, k]))
        elif isinstance(item, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(item))
    return None


class UnstorableText:
    """Refuses a request whose path, query or JSON body holds a NUL character or a lone
    surrogate (PostgreSQL and SQLite drivers cannot store them) with a 422 naming where.

    Only a body with an escape that may decode to such text is parsed here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loc = _in_url(scope)
        if loc is None and scope["method"] in ("POST", "PUT", "PATCH"):
            body, receive = await _buffered(receive)
            if SUSPECT_ESCAPE.search(body):
                loc = _in_body(body)
        if loc is None:
            await self.app(scope, receive, send)
            return
        msg = "text must not hold a NUL character or a lone surrogate"
        await invalid_response([error_item(loc, msg, "string_unstorable")])(scope, receive, send)


def _in_url(scope: Scope) -> list[str | int] | None:
    if unstorable(scope["path"]):
        return ["path"]
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return ["query", plain(name)]
    return None


def _in_body(body: bytes) -> list[str | int] | None:
    try:
        where = unstorable_in(json.loads(body))
    except (ValueError, RecursionError):
        return None  # not JSON: the route's own validation answers
    return None if where is None else ["body", *where]


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that hands it out again."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def document_errors(app: FastAPI, api_prefix: str) -> None:
    """Add the error answers to the OpenAPI document: 401, 403 and 503 on every API
    operation, 404 where the path names a resource, 413 and 422 where there is a body;
    409 where a route declares it."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _add_errors(build(), api_prefix)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _add_errors(schema: dict[str, Any], api_prefix: str) -> None:
    schema.setdefault("components", {}).setdefault("schemas", {})["ErrorMessage"] = (
        ERROR_MESSAGE
    )
    for path, item in schema.get("paths", {}).items():
        for op in item.values():
            responses = op.setdefault("responses", {})
            codes = set()
            if path.startswith(api_prefix):
                codes |= {401, 403, 503}
            if "{" in path:
                codes.add(404)
            if "requestBody" in op:
                codes.add(413)
                responses.setdefault("422", _validation_error())
            if "409" in responses:
                codes.add(409)
            for code in codes:
                responses[str(code)] = _error(code)


def _error(code: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS[code],
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}
        },
    }


def _validation_error() -> dict[str, Any]:
    return {
        "description": "Validation Error",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
        },
    }

