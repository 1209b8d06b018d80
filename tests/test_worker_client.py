"""The client's worker-facing extensions: retries reported, capped, and cut short."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from worker.client import ApiClient, Unreachable


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_retries_are_reported_and_their_backoff_capped():
    seen: list[tuple[int, str]] = []
    api = ApiClient(closed_port_url(), retry_seconds=1.0, max_delay=0.05,
                    on_retry=lambda attempt, problem: seen.append((attempt, problem)))
    with api, pytest.raises(Unreachable, match="cannot reach the hpsearch server"):
        api.request("POST", "/api/v1/trials/1/report")
    assert len(seen) >= 5  # one second of attempts at most 0.05 s apart
    assert [a for a, _ in seen] == list(range(len(seen)))
    assert seen[0][1].startswith("POST /api/v1/trials/1/report: ")


def test_cancel_stops_retrying_at_once():
    cancel = threading.Event()
    seen: list[int] = []
    api = ApiClient(closed_port_url(), retry_seconds=60, cancel=cancel,
                    on_retry=lambda attempt, _: seen.append(attempt))
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with api, pytest.raises(Unreachable):
        api.request("GET", "/api/v1/studies")
    assert time.monotonic() - started < 5 and seen
