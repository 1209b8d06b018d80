"""The client's worker-facing extensions: retries reported, capped, and cut short."""

from __future__ import annotations

import socket
import threading

import pytest

import hpsearch.http
from hpsearch.http import ApiClient, Unreachable


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


class FakeClock:
    """Stands in for the ``time`` module: sleeping advances the clock and is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_retries_are_reported_and_their_backoff_capped(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(hpsearch.http, "time", clock)
    seen: list[tuple[int, str]] = []
    api = ApiClient(closed_port_url(), retry_seconds=1.0, max_delay=0.05,
                    on_retry=lambda attempt, problem: seen.append((attempt, problem)))
    with api, pytest.raises(Unreachable, match="cannot reach the hpsearch server"):
        api.request("POST", "/api/v1/trials/1/report")
    assert clock.sleeps and max(clock.sleeps) <= 0.05  # every wait within the cap
    assert clock.now >= 1.0  # it gave up only once the retry budget was spent
    assert len(seen) == len(clock.sleeps)  # each retry reported, before its wait
    assert [a for a, _ in seen] == list(range(len(seen)))
    assert seen[0][1].startswith("POST /api/v1/trials/1/report: ")


def test_cancel_stops_retrying_at_once():
    cancel = threading.Event()
    seen: list[int] = []

    def on_retry(attempt: int, _problem: str) -> None:
        seen.append(attempt)
        if attempt == 2:
            cancel.set()

    api = ApiClient(closed_port_url(), retry_seconds=600, cancel=cancel, on_retry=on_retry)
    with api, pytest.raises(Unreachable):
        api.request("GET", "/api/v1/studies")
    assert seen == [0, 1, 2]  # the attempt after the cancel was the last one
