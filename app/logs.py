"""Structured (JSON lines) request logs."""

from __future__ import annotations

import copy
import json
import logging
import time
from typing import Any

ACCESS = logging.getLogger("hpsearch.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: uvicorn's own lines as uvicorn formats them,
    and the ``hpsearch`` loggers (requests, lease sweeps) as JSON lines on stderr.

    Given to uvicorn as ``log_config``, it is applied in every server process, the
    processes of ``--workers N`` included (each is a fresh interpreter)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["json"] = {"()": f"{__name__}.JsonFormatter"}
    config["handlers"]["json"] = {
        "class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr",
    }
    config["loggers"]["hpsearch"] = {
        "handlers": ["json"], "level": level.upper(), "propagate": False,
    }
    return config


class AccessLogMiddleware:
    """One JSON line per request: method, path, status, duration."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not ACCESS.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            ACCESS.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - start) * 1000, 2),
                        "client": (scope.get("client") or ["?"])[0],
                    }
                },
            )
