"""The Python client: ``connect`` to a server, create or open a study, and drive its
trials from your own code: ``study.trials()`` around a training loop, ``optimize`` with
an objective function, or ``ask`` / ``tell``; read results back with ``best_trial``,
``leaderboard`` and ``trials_dataframe``."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from hpsearch import lease as protocol
from hpsearch.http import ApiClient, default_server, default_token
from hpsearch.lease import Lease, poll_delay
from hpsearch.trial import Catch, Trial
from hpsearch.wire import FinalState, plain

if TYPE_CHECKING:
    import pandas

Objective = Callable[[Trial], Any]
POLL_MAX = 5.0


def connect(server: str | None = None, token: str | None = None, *,
            name: str | None = None, retry_seconds: float = 60.0) -> Client:
    """A client of the hpsearch server at ``server`` (default ``HPSEARCH_SERVER``, else
    http://127.0.0.1:8000) with bearer ``token`` (default ``HPSEARCH_TOKEN``). ``name``
    is what the server calls this process's claims (default HOST-PID);
    ``retry_seconds`` bounds the retries while the server is unreachable."""
    return Client(server or default_server(), token if token is not None else default_token(),
                  name=name, retry_seconds=retry_seconds)


@dataclass(frozen=True)
class TrialResult:
    """A trial as the leaderboard ranks it."""

    id: int
    study_id: int
    number: int
    stage: int
    state: str
    objective: float | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    epochs_run: int
    rank: int
    confirmed: dict[str, Any] | None = None  # a confirmed candidate: runs, mean, std, ...
    pick: str | None = None  # why this trial is the study's pick, if it is

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TrialResult:
        return cls(id=row["trial_id"], study_id=row["study_id"], number=row["number"],
                   stage=row["stage"], state=row["state"], objective=row["objective"],
                   params=dict(row["params"]), metrics=dict(row["metrics"]),
                   epochs_run=row["epochs_run"], rank=row["rank"],
                   confirmed=row.get("confirmed"), pick=row.get("pick"))


class Client:
    """A connection to one hpsearch server (see ``connect``)."""

    def __init__(self, server: str, token: str | None = None, *, name: str | None = None,
                 retry_seconds: float = 60.0) -> None:
        self.server, self.token = server.rstrip("/"), token
        self.name = name or protocol.default_name()
        self.retry_seconds = retry_seconds
        self.api = ApiClient(self.server, token, retry_seconds=retry_seconds)
        self._registered = False

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_study(self, spec: Mapping[str, Any] | str | os.PathLike[str]) -> Study:
        """Create a study from a spec: a dict, or the path of the YAML (or JSON) file the
        CLI takes. A bad spec raises ``hpsearch.ApiError`` naming the field."""
        body = load_spec(spec) if isinstance(spec, str | os.PathLike) else dict(spec)
        created = self.api.post("/api/v1/studies", body)
        return Study(self, int(created["id"]))

    def study(self, study_id: int) -> Study:
        """An existing study (checked to exist)."""
        self.api.get(f"/api/v1/studies/{study_id}")
        return Study(self, study_id)

    def studies(self) -> list[dict[str, Any]]:
        """Every study's summary."""
        return list(self.api.get("/api/v1/studies", limit=1000)["items"])

    def claim(self, study_id: int, *, catch: Catch = ()) -> Trial | None:
        """Claim the next queued trial of ``study_id`` under lease, heartbeat started;
        None when nothing is queued right now."""
        if not self._registered:
            protocol.register(self.api, self.name)
            self._registered = True
        lease = Lease.claim(self.api, self.name, [study_id])
        if not isinstance(lease, Lease):
            return None
        lease.start_heartbeat()
        return Trial(lease, catch=catch)


def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A study spec from a YAML or JSON file."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"study file {file} not found")
    data = yaml.safe_load(file.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{file} must hold a mapping (name, task, space, stages, ...)")
    return data


class Study:
    """One study on the server, and the ways to run its trials from Python."""

    def __init__(self, client: Client, study_id: int) -> None:
        self.client, self.id = client, study_id

    def __repr__(self) -> str:
        return f"Study(id={self.id}, server={self.client.server!r})"

    def info(self) -> dict[str, Any]:
        """The study as ``GET /studies/{id}`` shows it: state, counts, stages, warnings."""
        return dict(self.client.api.get(f"/api/v1/studies/{self.id}"))

    @property
    def state(self) -> str:
        """running, paused, cancelled or completed."""
        return str(self.info()["state"])

    # -- running trials ------------------------------------------------------------------

    def ask(self, timeout: float | None = None, *, catch: Catch = ()) -> Trial | None:
        """The next trial, claimed under lease (heartbeat in the background). While nothing
        is queued but the study still runs (a stage is finishing elsewhere) it waits, up to
        ``timeout`` seconds; None once the study stops running or the time is up."""
        deadline = None if timeout is None else time.monotonic() + timeout
        polls = 0
        while True:
            trial = self.client.claim(self.id, catch=catch)
            if trial is not None:
                return trial
            if self.state != "running":
                return None
            delay = poll_delay(polls, POLL_MAX)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                delay = min(delay, left)
            time.sleep(delay)
            polls += 1

    def tell(self, trial: Trial, metrics: Mapping[str, Any] | float | None = None, *,
             state: FinalState = "completed", reason: str | None = None) -> None:
        """End a trial from ``ask``: ``metrics`` (a dict, or the value of the study's
        metric; default: the last reported) and its ``state``. Raises
        ``hpsearch.LeaseLost`` when the trial went to someone else meanwhile."""
        if trial.lease_lost:
            raise protocol.LeaseLost(f"trial {trial.id}: the lease was lost; nothing stored")
        final = None if metrics is None else as_metrics(metrics, trial.metric)
        trial._end(state, final, reason)
        if trial.state == "lost":
            raise protocol.LeaseLost(f"trial {trial.id}: the lease was lost; nothing stored")

    def trials(self, max_trials: int | None = None, *, timeout: float | None = None,
               catch: Catch = ()) -> Iterator[Trial]:
        """Claim trials one after another, until ``max_trials`` were claimed, ``timeout``
        seconds have passed or the study stops running. Each trial ends when the loop body
        does (see ``hpsearch.trial``); put the body in ``with trial:`` so that an exception
        fails the trial with its traceback, and list in ``catch`` the exceptions after which
        the loop goes on to the next trial instead of re-raising them."""
        deadline = None if timeout is None else time.monotonic() + timeout
        claimed = 0
        with _InterruptWatch() as watch:
            while max_trials is None or claimed < max_trials:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return
                trial = self.ask(left, catch=catch)
                if trial is None:
                    return
                claimed += 1
                try:
                    yield trial
                except GeneratorExit:
                    trial.left_early(interrupted=watch.fired)
                    raise
                trial.close()

    def optimize(self, objective: Objective, n_trials: int | None = None, n_workers: int = 1,
                 timeout: float | None = None, *, catch: Catch = ()) -> None:
        """Run ``objective(trial)`` on this study's trials until ``n_trials`` have run,
        ``timeout`` seconds have passed or the study is done. The objective reports steps
        with ``trial.report`` and returns its final metrics: a dict, a number (the study's
        metric) or None (the last reported). ``n_workers`` > 1 runs it in that many spawned
        processes (the objective must be a module-level function; guard your script with
        ``if __name__ == "__main__":``). An exception fails its trial and is re-raised
        (unless listed in ``catch``), stopping the others."""
        from hpsearch.optimize import optimize

        optimize(self, objective, n_trials=n_trials, n_workers=n_workers, timeout=timeout,
                 catch=catch)

    # -- results -------------------------------------------------------------------------

    def leaderboard(self, limit: int = 20, offset: int = 0, *, stage: int | None = None,
                    state: str | None = None, sort: str | None = None,
                    order: str | None = None) -> list[TrialResult]:
        """Ranked trials (best first), as ``GET /studies/{id}/leaderboard`` pages them."""
        page = self.client.api.get(f"/api/v1/studies/{self.id}/leaderboard", limit=limit,
                                   offset=offset, stage=stage, state=state, sort=sort,
                                   order=order)
        return [TrialResult.from_row(row) for row in page["rows"]]

    @property
    def best_trial(self) -> TrialResult | None:
        """The study's pick once its confirmation has run (the candidate with the best mean
        over its runs: see ``confirmed`` and ``pick``); otherwise the best completed trial
        by the objective, or None."""
        pick = self.client.api.get(f"/api/v1/studies/{self.id}").get("pick")
        if pick is not None:
            return TrialResult.from_row(pick["trial"])
        rows = self.leaderboard(limit=1, state="completed")
        return rows[0] if rows else None

    def export(self) -> dict[str, Any]:
        """Every trial with its per-step reports (``GET /studies/{id}/export``)."""
        return dict(self.client.api.get(f"/api/v1/studies/{self.id}/export", format="json"))

    def trials_dataframe(self) -> pandas.DataFrame:
        """Every trial as a pandas DataFrame with the CSV export's columns (trial_id,
        number, stage, state, ..., ``params.*``, ``metrics.*``)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("trials_dataframe() needs pandas, which hpsearch does not "
                              "install: pip install pandas (or 'hpsearch[pandas]')") from None
        response = self.client.api.request("GET", f"/api/v1/studies/{self.id}/export",
                                           params={"format": "csv"})
        return pandas.read_csv(io.StringIO(response.text),
                               parse_dates=["created_at", "started_at", "finished_at"])


def as_metrics(value: Mapping[str, Any] | float | None, metric: str) -> dict[str, Any] | None:
    """An objective's result as metrics: a dict as it is, a number as ``{metric: value}``."""
    if value is None or isinstance(value, Mapping):
        return None if value is None else plain(value)
    number = plain(value)
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise TypeError(f"the objective returned {type(value).__name__}; return a dict of "
                        f"metrics, a number (the study's {metric}) or None")
    return {metric: number}


class _InterruptWatch:
    """Notes whether Ctrl-C (SIGINT) arrived while active, and still raises
    KeyboardInterrupt as usual. Only in the main thread, and only over Python's own
    handler (a program's own SIGINT handler is left alone)."""

    def __init__(self) -> None:
        self.fired = False
        self._installed = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.fired = True
        signal.default_int_handler(signum, frame)

    def __enter__(self) -> _InterruptWatch:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._installed and signal.getsignal(signal.SIGINT) == self._handler:
            signal.signal(signal.SIGINT, signal.default_int_handler)
