"""Keeps a trial's lease alive from a background thread while the main thread trains."""

from __future__ import annotations

import threading
from collections.abc import Callable

from worker.client import ApiClient, ApiError, Unreachable
from worker.progress import Progress
from worker.runner import Task

LOST_STATUSES = frozenset({404, 409})


class Heartbeat:
    """Extends ``task``'s lease every third of the lease; transport errors and 5xx are
    retried. When the server says the lease is gone (409, or 404) it calls
    ``on_lost(trial_id)`` once and stops."""

    def __init__(self, server: str, token: str | None, task: Task,
                 on_lost: Callable[[int], None], progress: Progress) -> None:
        self.task, self.on_lost, self.progress = task, on_lost, progress
        self.interval = min(max(task.lease_seconds / 3, 0.2), 30.0)
        self._stopped = threading.Event()
        self._api = ApiClient(server, token, timeout=min(max(task.lease_seconds / 2, 1.0), 10.0),
                              retry_seconds=task.lease_seconds, cancel=self._stopped)
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{task.id}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=15)
        self._api.close()

    def _run(self) -> None:
        path = f"/api/v1/trials/{self.task.id}/heartbeat"
        body = {"lease_token": self.task.lease_token}
        while not self._stopped.wait(self.interval):
            try:
                self._api.request("POST", path, json=body)
            except ApiError as exc:
                if exc.status in LOST_STATUSES:
                    self.on_lost(self.task.id)
                    return
                self.progress.event("heartbeat_error", f"heartbeat refused: {exc}",
                                    level="warning", trial=self.task.id)
            except Unreachable as exc:
                if not self._stopped.is_set():
                    self.progress.event("heartbeat_error", f"heartbeat failed: {exc}",
                                        level="warning", trial=self.task.id)
