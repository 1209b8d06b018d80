"""The HTTP side of the client: bearer auth, retries with backoff and jitter, and error
details in one readable line."""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from hpsearch.wire import json_safe

DEFAULT_SERVER = "http://127.0.0.1:8000"
RETRY_STATUS = frozenset({500, 502, 503, 504})


def server_url(text: str) -> str:
    """An argparse type: an http(s) URL; a bare host:port gets a hint."""
    if not text.startswith(("http://", "https://")):
        hint = f"; add the scheme: http://{text}" if text and "://" not in text else ""
        raise argparse.ArgumentTypeError(
            f"expected an http:// or https:// URL, got {text!r}{hint}"
        )
    return text


def default_server() -> str:
    """``HPSEARCH_SERVER``, or the local default."""
    return os.environ.get("HPSEARCH_SERVER") or DEFAULT_SERVER


def default_token() -> str | None:
    """``HPSEARCH_TOKEN``, or None (an open server)."""
    return os.environ.get("HPSEARCH_TOKEN") or None


class ApiError(Exception):
    """The server answered with an error status (after any retries)."""

    def __init__(self, status: int, detail: Any, method: str, path: str) -> None:
        self.status, self.detail = status, detail
        super().__init__(f"{method} {path} -> {status}: {format_detail(detail)}")


class Unreachable(Exception):
    """The server could not be reached within the retry budget."""


def format_detail(detail: Any) -> str:
    """Flatten FastAPI's error detail into one readable line per problem."""
    if isinstance(detail, list):
        parts = []
        for err in detail:
            if isinstance(err, dict):
                loc = ".".join(str(x) for x in err.get("loc", []) if x != "body")
                msg = str(err.get("msg", err)).removeprefix("Value error, ")
                parts.append(f"{loc}: {msg}" if loc else msg)
            else:
                parts.append(str(err))
        return "; ".join(parts)
    return str(detail)


def error_detail(response: httpx.Response) -> Any:
    """The ``detail`` of an error response (FastAPI's shape), or its text."""
    try:
        return response.json().get("detail", response.text)
    except ValueError:
        return response.text or response.reason_phrase


def backoff(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))


class ApiClient:
    """A thin synchronous client; transport failures and 5xx are retried.

    ``cancel``, when given, cuts retries short: once it is set, a failed attempt raises
    at once instead of backing off (a worker that is shutting down stops waiting).
    ``on_retry(attempt, problem)`` is told about each failed attempt that will be retried;
    ``max_delay`` caps the backoff between attempts.
    """

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retry_seconds: float = 60.0,
        cancel: threading.Event | None = None,
        on_retry: Callable[[int, str], None] | None = None,
        max_delay: float = 30.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)
        self.retry_seconds = retry_seconds
        self.cancel = cancel
        self.on_retry = on_retry
        self.max_delay = max_delay

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        retry_seconds: float | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send a request; retry connection errors, timeouts and 500/502/503/504 until the
        budget runs out (or ``cancel`` is set). Other error statuses raise ``ApiError`` at
        once. ``timeout`` overrides the client's per-attempt timeout."""
        budget = self.retry_seconds if retry_seconds is None else retry_seconds
        deadline = time.monotonic() + budget
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        attempt = 0
        while True:
            try:
                response = self.http.request(
                    method, path, json=None if json is None else json_safe(json), params=params,
                    **extra,
                )
            except httpx.TransportError as exc:
                if self._give_up(deadline):
                    raise Unreachable(
                        f"cannot reach the hpsearch server at {self.server} ({exc})"
                    ) from exc
                problem = f"{method} {path}: {str(exc) or type(exc).__name__}"
            else:
                if response.status_code not in RETRY_STATUS:
                    if response.is_error:
                        raise ApiError(response.status_code, error_detail(response), method,
                                       path)
                    return response
                if self._give_up(deadline):
                    raise ApiError(response.status_code, error_detail(response), method, path)
                problem = f"{method} {path}: {response.status_code}"
            if self.on_retry is not None:
                self.on_retry(attempt, problem)
            delay = min(backoff(attempt, cap=self.max_delay),
                        max(deadline - time.monotonic(), 0.05))
            if self.cancel is None:
                time.sleep(delay)
            else:
                self.cancel.wait(delay)
            attempt += 1

    def _give_up(self, deadline: float) -> bool:
        cancelled = self.cancel is not None and self.cancel.is_set()
        return cancelled or time.monotonic() >= deadline

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def post(self, path: str, body: Any = None) -> Any:
        response = self.request("POST", path, json=body if body is not None else {})
        return response.json() if response.content else None
