"""Guards in front of every request: a size limit on bodies, and no open door on loopback.

An open server (no token has ever been created, bound to loopback: the default ``hpsearch
serve`` and the quickstart) trusts whoever can reach it, so it must not be reachable by a
web page the user happens to visit. While open it refuses

- a ``Host`` that is not a loopback name or address (``localhost``, ``127.0.0.1``,
  ``[::1]``, any port): a page on a rebound DNS name (DNS rebinding) sends its own name;
- a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` is not the server's
  own, whose ``Sec-Fetch-Site`` says another site sent it, or that is form-encoded or
  ``text/plain`` without a same-origin ``Origin`` (what a cross-site HTML form sends).

The CLI, the workers and other programs send no ``Origin`` and no ``Sec-Fetch-Site`` and
keep working; so does the server's own web page (same origin). Once tokens are in use (or
the server binds beyond loopback, which needs them) these checks are off: a page on
another site holds no token and a browser never adds one by itself, and a reverse proxy
may rename the host.

Every request body is limited to ``max_body_bytes``, counted while it streams in, so a
missing or false ``Content-Length`` cannot carry more; a larger body gets a 413.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from functools import lru_cache
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_ORIGIN_FETCH = frozenset({b"same-origin", b"none"})
FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data", b"text/plain")


class BodyTooLarge(Exception):
    """Raised from ``receive`` once a body passes the limit; the guard answers 413."""


@lru_cache(maxsize=256)
def is_loopback_host(host: bytes) -> bool:
    """True for a ``Host`` value naming this machine's loopback, with or without a port."""
    text = host.decode("latin-1").strip().lower()
    if text.startswith("["):
        name = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        name = text.partition(":")[0]
    else:
        name = text
    name = name.rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _origin_netloc(origin: bytes) -> bytes:
    """``host[:port]`` of an ``Origin`` value (``b""`` for ``null`` or garbage)."""
    _, sep, rest = origin.partition(b"://")
    return rest.rstrip(b"/").lower() if sep else b""


def foreign_request(scope: Scope, headers: dict[bytes, bytes]) -> str | None:
    """Why a browser could have sent this request from another site, or None."""
    host = headers.get(b"host")
    if host is not None and not is_loopback_host(host):
        return (
            f"host {host.decode('latin-1')!r} refused: this server has no tokens and answers "
            "only to its loopback name (http://127.0.0.1 or http://localhost); create a token "
            "to serve it under another name"
        )
    if scope["method"] not in UNSAFE_METHODS:
        return None
    origin = headers.get(b"origin")
    same_origin = origin is not None and host is not None and _origin_netloc(origin) == (
        host.strip().lower()
    )
    if origin is not None and not same_origin:
        return f"cross-origin {scope['method']} from {origin.decode('latin-1')!r} refused"
    site = headers.get(b"sec-fetch-site")
    if site is not None and site.lower() not in SAME_ORIGIN_FETCH:
        return f"{scope['method']} sent by another site ({site.decode('latin-1')}) refused"
    content_type = headers.get(b"content-type", b"").lower()
    if not same_origin and content_type.startswith(FORM_TYPES):
        return (
            f"{content_type.decode('latin-1')} {scope['method']} refused: another site's "
            "form could send it; send JSON (Content-Type: application/json) or no body"
        )
    return None


def server_is_open(scope: Scope) -> bool:
    """True while the server needs no token (see ``app.deps.AuthCache.is_open``)."""
    state = scope["app"].state
    return not state.settings.require_auth and state.auth_cache.is_open(state.db)


async def refuse(send: Send, status: int, detail: str) -> None:
    """A JSON error answer; the connection closes, so an unread body is never parsed."""
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    })
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Pure ASGI middleware: the body limit, and the open-mode checks described above."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> str:
        return (
            f"request body too large: the limit is {self.max_body_bytes} bytes "
            "(HPSEARCH_MAX_BODY_BYTES); split a bulk upload into several requests"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if server_is_open(scope):
            problem = foreign_request(scope, headers)
            if problem is not None:
                await refuse(send, 403, problem)
                return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await refuse(send, 413, self._too_large())
            return
        await self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with a ``receive`` that stops counting bytes past the limit."""
        limit, received = self.max_body_bytes, 0
        exceeded = started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the app answers to the failed read, the answer is 413
                if not started:
                    started = True
                    await refuse(send, 413, self._too_large())
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await refuse(send, 413, self._too_large())
