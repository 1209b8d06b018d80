"""Server throughput and leaderboard latency, hpsearch against Optuna's RDB storage.

Each trial is the same work on both sides: hpsearch does claim, 5 reports and finish over
HTTP against a real ``hpsearch serve``; Optuna does ask, 5 ``trial.report`` and tell on its
RDBStorage with RandomSampler over the same space. Both run in simulated worker processes
(no training) against the same database engine, on fresh databases. hpsearch is measured
on an empty and on a preloaded database in alternating rounds; the medians are reported.

    python benchmarks/bench_server.py                 # SQLite and PostgreSQL, all phases
    python benchmarks/bench_server.py --db sqlite --trials 800 --preload 100000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.config import Settings  # noqa: E402
from app.db import Database  # noqa: E402
from app.main import prepare_database  # noqa: E402

PG_ADMIN = os.environ.get("HPSEARCH_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SPACE = {
    "learning_rate": {"type": "log_uniform", "low": 1e-6, "high": 1e-1},
    "reg": {"type": "log_uniform", "low": 1e-5, "high": 1.0},
}
REPORTS = 5


# --- databases ---------------------------------------------------------------------------

@dataclass
class Scratch:
    """A fresh database for one run, dropped afterwards."""

    kind: str
    url: str
    name: str | None = None

    @classmethod
    def create(cls, kind: str, tmp: Path) -> Scratch:
        if kind == "sqlite":
            return cls(kind, f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}")
        name = f"bench_{uuid.uuid4().hex[:10]}"
        engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        return cls(kind, url, name)

    def drop(self) -> None:
        if self.name:
            engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            engine.dispose()


# --- hpsearch ----------------------------------------------------------------------------

def start_server(url: str, port: int, processes: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--db", url, "--port", str(port),
         "--workers", str(processes), "--log-level", "warning"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "HPSEARCH_LEASE_SECONDS": "600"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def hp_worker(base: str, study: int, name: str) -> int:
    """Claim, report 5 times and finish until the study's queue is empty."""
    done = 0
    with httpx.Client(base_url=base, timeout=120) as http:
        while True:
            r = http.post("/api/v1/trials/claim", json={"worker": name, "studies": [study]})
            if r.status_code == 204:
                return done
            task = r.json()
            tid, token = task["id"], task["lease_token"]
            for step in range(1, REPORTS + 1):
                http.post(f"/api/v1/trials/{tid}/report", json={
                    "lease_token": token, "step": step,
                    "metrics": {"val_accuracy": random.random(), "train_loss": 1.0 / step}})
            http.post(f"/api/v1/trials/{tid}/finish", json={
                "lease_token": token, "state": "completed",
                "metrics": {"val_accuracy": random.random()}})
            done += 1


def hp_create(base: str, trials: int, name: str) -> int:
    spec = {"name": name, "task": {"type": "custom"}, "space": SPACE,
            "stages": [{"trials": trials, "epochs": REPORTS}], "seed": 1}
    r = httpx.post(base + "/api/v1/studies", json=spec, timeout=600)
    r.raise_for_status()
    return r.json()["id"]


def hp_run(base: str, trials: int, workers: int, name: str) -> float:
    """Trials per second for one study of ``trials`` trials."""
    study = hp_create(base, trials, name)
    ctx = get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        list(pool.map(time.sleep, [0] * workers))  # start the processes outside the clock
        start = time.perf_counter()
        futures = [pool.submit(hp_worker, base, study, f"bench-{i}") for i in range(workers)]
        total = sum(f.result() for f in futures)
        elapsed = time.perf_counter() - start
    assert total == trials, (total, trials)
    return trials / elapsed


def hp_preload(url: str, n: int) -> int:
    """Add a study of ``n`` finished trials, each with 5 reports, straight into the tables;
    returns its id."""
    db = Database(url)
    prepare_database(db, Settings(database_url=url))
    now = time.time()
    rng = random.Random(0)
    with db.write() as s:
        study_id = s.execute(text(
            "INSERT INTO studies (name, state, metric, maximize, dataset, spec, seed, "
            "max_attempts, current_stage, next_number, created_at, updated_at) VALUES "
            "('preloaded', 'completed', 'val_accuracy', true, NULL, :spec, 0, 3, 0, :n, "
            ":now, :now) RETURNING id"),
            {"spec": '{"task": {"type": "custom"}, "stages": [{"trials": 1, "epochs": 5}]}',
             "n": n, "now": now}).scalar_one()
        stage_id = s.execute(text(
            "INSERT INTO stages (study_id, \"index\", state, space, epochs, n_trials, sampler, "
            "pruning, policy, source_trial_ids, created_at) VALUES (:sid, 0, 'done', :space, "
            "5, :n, 'random', '{\"rule\": \"none\"}', NULL, '[]', :now) RETURNING id"),
            {"sid": study_id, "space": '{"learning_rate": {"type": "fixed", "value": 0.1}}',
             "n": n, "now": now}).scalar_one()
    batch = 5000
    for first in range(0, n, batch):
        with db.write() as s:
            rows = []
            for i in range(first, min(first + batch, n)):
                acc = rng.random()
                rows.append({"study_id": study_id, "stage_id": stage_id, "number": i,
                             "params": '{"learning_rate": 0.1}', "objective": acc,
                             "rank_key": -acc, "now": now,
                             "metrics": f'{{"val_accuracy": {acc}}}'})
            s.execute(text(
                "INSERT INTO trials (study_id, stage_id, stage_index, number, state, origin, "
                "params, epochs, seed, attempt, objective, rank_key, metrics, steps, "
                "created_at, started_at, finished_at) VALUES (:study_id, :stage_id, 0, "
                ":number, 'completed', 'sampled', :params, 5, 0, 1, :objective, :rank_key, "
                ":metrics, 5, :now, :now, :now)"), rows)
            ids = s.execute(text(
                "SELECT id FROM trials WHERE study_id = :sid AND number >= :a AND number < :b"),
                {"sid": study_id, "a": first, "b": first + batch}).scalars().all()
            s.execute(text(
                "INSERT INTO trial_reports (trial_id, stage_id, step, objective, metrics, "
                "created_at) VALUES (:tid, :stage_id, :step, 0.5, '{\"val_accuracy\": 0.5}', "
                ":now)"),
                [{"tid": t, "stage_id": stage_id, "step": k, "now": now}
                 for t in ids for k in range(1, REPORTS + 1)])
    # After a bulk insert like this, PostgreSQL's autovacuum (13+, when enabled) runs both
    # VACUUM (insert-triggered: it sets the visibility map index-only scans rely on) and
    # ANALYZE; the benchmark does both itself, so its result does not depend on whether or
    # when autovacuum got to the table. SQLite has no autovacuum; ANALYZE gives it statistics.
    # A study that grew to 100,000 trials over days has long had its writes checkpointed;
    # CHECKPOINT does that now rather than during the measurement that follows.
    postgres = db.engine.dialect.name == "postgresql"
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
        if postgres:
            conn.execute(text("CHECKPOINT"))
    db.dispose()
    return study_id


def leaderboard_latency(base: str, study: int, samples: int) -> tuple[float, float]:
    """Median and p95 milliseconds of leaderboard pages (first pages, deep pages, filters)."""
    variants = [{"limit": 50}, {"limit": 50, "offset": 5000}, {"limit": 50, "state": "completed"},
                {"limit": 20, "offset": 50}]
    times = []
    with httpx.Client(base_url=base, timeout=60) as http:
        http.get(f"/api/v1/studies/{study}/leaderboard")
        for i in range(samples):
            start = time.perf_counter()
            r = http.get(f"/api/v1/studies/{study}/leaderboard", params=variants[i % 4])
            times.append((time.perf_counter() - start) * 1000)
            r.raise_for_status()
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


# --- Optuna ------------------------------------------------------------------------------

def optuna_worker(url: str, study_name: str, n: int) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(study_name=study_name, storage=storage,
                              sampler=optuna.samplers.RandomSampler())
    for _ in range(n):
        trial = study.ask()
        trial.suggest_float("learning_rate", 1e-6, 1e-1, log=True)
        trial.suggest_float("reg", 1e-5, 1.0, log=True)
        for step in range(1, REPORTS + 1):
            trial.report(random.random(), step)
        study.tell(trial, random.random())
    return n


def optuna_run(url: str, trials: int, workers: int, name: str) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name=name, storage=optuna.storages.RDBStorage(url),
                        direction="maximize", load_if_exists=True)
    per = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(time.sleep, [0] * workers))
        start = time.perf_counter()
        total = sum(pool.map(optuna_worker, [url] * workers, [name] * workers, per))
        elapsed = time.perf_counter() - start
    assert total == trials
    return trials / elapsed


# --- driver ------------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_db(kind: str, args: argparse.Namespace, tmp: Path) -> list[list[str]]:
    """hpsearch on an empty and on a preloaded database, in alternating rounds (so drift in
    the machine's speed hits both alike), then Optuna on a fresh one."""
    rows: list[list[str]] = []
    print(f"== {kind}", flush=True)
    empty_db, full_db = Scratch.create(kind, tmp), Scratch.create(kind, tmp)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        board_study = 1
        if args.preload:
            t0 = time.perf_counter()
            board_study = hp_preload(full_db.url, args.preload)
            print(f"preloaded {args.preload} finished trials in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        bases = {}
        for label, scratch in (("empty", empty_db), ("preloaded", full_db)):
            port = free_port()
            procs.append(start_server(scratch.url, port, args.server_processes))
            bases[label] = f"http://127.0.0.1:{port}"
        rates: dict[str, list[float]] = {label: [] for label in bases}
        for r in range(args.rounds):
            for label in list(bases)[:: 1 if r % 2 == 0 else -1]:
                rate = hp_run(bases[label], args.trials, args.workers, f"round-{r}")
                rates[label].append(rate)
                print(f"hpsearch, round {r + 1}, {label} database: {rate:.1f} trials/s",
                      flush=True)
        empty, full = statistics.median(rates["empty"]), statistics.median(rates["preloaded"])
        med, p95 = leaderboard_latency(bases["preloaded"], board_study, args.samples)
        print(f"leaderboard at {args.preload} trials: median {med:.1f} ms, p95 {p95:.1f} ms",
              flush=True)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
        empty_db.drop()
        full_db.drop()
    op_db = Scratch.create(kind, tmp)
    try:
        op = optuna_run(op_db.url, args.optuna_trials, args.workers, "bench")
        print(f"optuna, empty study: {op:.1f} trials/s", flush=True)
        op_grown = None
        if args.optuna_grow:
            optuna_run(op_db.url, args.optuna_grow, args.workers, "bench")
            op_grown = optuna_run(op_db.url, args.optuna_trials, args.workers, "bench")
            print(f"optuna, study at {args.optuna_grow + args.optuna_trials} trials: "
                  f"{op_grown:.1f} trials/s", flush=True)
    finally:
        op_db.drop()
    rows.append([kind, f"{empty:.1f}", f"{full:.1f}", f"{op:.1f}",
                 f"{op_grown:.1f}" if op_grown else "-", f"{empty / op:.1f}x",
                 f"{med:.1f} / {p95:.1f}"])
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--trials", type=int, default=800, help="hpsearch trials per measurement")
    p.add_argument("--optuna-trials", type=int, default=200, help="Optuna trials per measurement")
    p.add_argument("--optuna-grow", type=int, default=0,
                   help="grow the Optuna study by this many trials and measure again")
    p.add_argument("--workers", type=int, default=8, help="simulated worker processes")
    p.add_argument("--server-processes", type=int, default=2, help="hpsearch serve --workers")
    p.add_argument("--preload", type=int, default=100_000, help="finished trials to add")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating rounds on the empty and the preloaded database")
    p.add_argument("--samples", type=int, default=400, help="leaderboard requests to time")
    args = p.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            rows += bench_db(kind, args, Path(tmp))
    print()
    print("| database | hpsearch empty, median (trials/s) | hpsearch preloaded, median (trials/s) "
          "| Optuna empty (trials/s) | Optuna grown (trials/s) | hpsearch / Optuna "
          "| leaderboard median / p95 (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
