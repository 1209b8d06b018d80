"""What the request guard (app/security.py) costs per request on the worker's hot path.

A worker's report (POST with a JSON body, loopback Host, no Origin) goes through the guard
in front of an ASGI app that reads the body and answers; the same app without the guard
is the baseline. Rounds alternate between the two, and CPU time of this process
(``time.process_time``) is used, so other load on the machine matters little.

    python benchmarks/bench_guard.py --requests 200000 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.security import RequestGuard

BODY = b'{"lease_token": "q1w2e3r4t5y6u7i8o9p0", "step": 3, "metrics": ' + (
    b'{"train_loss": 0.4321, "val_loss": 0.5123, "val_accuracy": 0.8765}}'
)


class Cache:
    def __init__(self, is_open: bool) -> None:
        self.open = is_open

    def is_open(self, db: Any) -> bool:
        return self.open


async def endpoint(scope: Any, receive: Any, send: Any) -> None:
    """Reads the body and answers, as a route does."""
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def scope_for(is_open: bool) -> dict[str, Any]:
    state = SimpleNamespace(settings=SimpleNamespace(require_auth=False),
                            auth_cache=Cache(is_open), db=None)
    return {
        "type": "http", "method": "POST", "path": "/api/v1/trials/1/report", "scheme": "http",
        "app": SimpleNamespace(state=state),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*"),
                    (b"accept-encoding", b"gzip, deflate"), (b"connection", b"keep-alive"),
                    (b"user-agent", b"python-httpx/0.28.1"),
                    (b"authorization", b"Bearer hps_abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"),
                    (b"content-length", str(len(BODY)).encode()),
                    (b"content-type", b"application/json")],
    }


async def run(app: Any, scope: dict[str, Any], n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    start = time.process_time()
    for _ in range(n):
        await app(scope, receive, send)
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    guarded = RequestGuard(endpoint, max_body_bytes=16 * 2**20)
    results: dict[str, list[float]] = {"bare": [], "guard, tokens": [], "guard, open": []}
    for _ in range(args.rounds):
        results["bare"].append(asyncio.run(run(endpoint, scope_for(False), args.requests)))
        results["guard, tokens"].append(
            asyncio.run(run(guarded, scope_for(False), args.requests)))
        results["guard, open"].append(asyncio.run(run(guarded, scope_for(True), args.requests)))
    base = statistics.median(results["bare"])
    print(f"{'app':<16}{'median us/request':>20}{'added us':>10}   rounds")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:<16}{median:>20.2f}{median - base:>10.2f}   "
              + ", ".join(f"{v:.2f}" for v in values))


if __name__ == "__main__":
    main()
