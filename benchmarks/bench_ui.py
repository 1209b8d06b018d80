"""The study page at 100,000 trials, in headless Chromium, on SQLite and PostgreSQL.

A study gets ``--trials`` finished trials through ``POST /studies/{id}/trials`` (four
parameters: two log-uniform, an int on a log scale, a choice). Then, against a real
``hpsearch serve``:

- the points endpoint: wire (gzip) and raw size, and latency, whole and as a delta;
- the leaderboard sorted by a parameter, and the importance endpoint (cold and cached);
- Chromium: navigation to every chart drawn (the page's ``study-ready`` mark), and to the
  importance bars;
- live: a thread trains trials through the worker protocol (claim, 3 reports, finish, about
  one a second) while the page polls; main-thread time per refresh (CDP TaskDuration over
  the window divided by the polls), the longest task, and bytes per refresh (encoded bytes
  of every response in the window divided by the polls).

    python benchmarks/bench_ui.py                          # SQLite and PostgreSQL
    python benchmarks/bench_ui.py --db sqlite --trials 20000 --live-seconds 20
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.services.points import OVERLAP_S  # noqa: E402
from benchmarks.bench_server import Scratch, start_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SPACE = {
    "learning_rate": {"type": "log_uniform", "low": 1e-6, "high": 1e-1},
    "reg": {"type": "log_uniform", "low": 1e-5, "high": 1.0},
    "batch_size": {"type": "int", "low": 16, "high": 512, "log": True},
    "activation": {"type": "choice", "values": ["relu", "tanh", "elu"]},
}
BATCH = 2_000
STALL = "stalled: loss 2.30 vs initial 2.30 after 3 epochs, val accuracy 10.0% at chance (10.0%)"


def finished_trial(rng: random.Random) -> dict[str, Any]:
    """A plausible finished trial: accuracy peaks near lr 1e-3, reg 1e-3; high lr diverges,
    tiny lr stalls."""
    lr = 10 ** rng.uniform(-6, -1)
    reg = 10 ** rng.uniform(-5, 0)
    params = {"learning_rate": lr, "reg": reg, "batch_size": int(2 ** rng.uniform(4, 9)),
              "activation": rng.choice(["relu", "tanh", "elu"])}
    if lr > 3e-2 and rng.random() < 0.8:
        return {"params": params, "result": {"state": "aborted", "metrics": {},
                                             "reason": "loss nan (non-finite) at epoch 1"}}
    if lr < 3e-6 and rng.random() < 0.8:
        return {"params": params, "result": {"state": "aborted", "metrics": {},
                                             "reason": STALL}}
    acc = 0.95 - 0.05 * (math.log10(lr) + 3) ** 2 - 0.03 * (math.log10(reg) + 3) ** 2
    acc = max(0.1, min(0.99, acc + rng.gauss(0, 0.02)))
    state = "pruned" if rng.random() < 0.15 else "completed"
    return {"params": params, "result": {"state": state, "metrics": {"val_accuracy": acc}}}


def fill(http: httpx.Client, n: int) -> int:
    spec = {"name": f"bench-ui-{n}", "task": {"type": "custom"}, "space": SPACE,
            "stages": [{"trials": 400, "epochs": 3, "pruning": {"rule": "none"}}], "seed": 1}
    study = http.post("/api/v1/studies", json=spec).raise_for_status().json()["id"]
    rng = random.Random(0)
    for start in range(0, n, BATCH):
        items = [finished_trial(rng) for _ in range(min(BATCH, n - start))]
        http.post(f"/api/v1/studies/{study}/trials", json={"trials": items}).raise_for_status()
    return study


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    """Median wall time (ms) of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times), result


def endpoint_numbers(http: httpx.Client, study: int) -> dict[str, float]:
    gz = {"Accept-Encoding": "gzip"}
    ms, r = timed(lambda: http.get(f"/api/v1/studies/{study}/points", headers=gz), 5)
    out = {"points_ms": ms, "points_wire_kb": r.num_bytes_downloaded / 1024,
           "points_raw_kb": len(r.content) / 1024}
    cursor = r.json()["cursor"]
    item = finished_trial(random.Random(1))
    http.post(f"/api/v1/studies/{study}/trials", json={"trials": [item] * 5}).raise_for_status()
    ms, r = timed(lambda: http.get(f"/api/v1/studies/{study}/points",
                                   params={"since": cursor}, headers=gz), 5)
    out.update(delta_ms=ms, delta_wire_kb=r.num_bytes_downloaded / 1024,
               delta_rows=len(r.json()["trial_id"]))
    out["sort_param_ms"], _ = timed(lambda: http.get(
        f"/api/v1/studies/{study}/leaderboard",
        params={"sort": "params.learning_rate", "order": "desc"}).raise_for_status(), 5)
    out["importance_cold_ms"], _ = timed(
        lambda: http.get(f"/api/v1/studies/{study}/importance").raise_for_status(), 1)
    out["importance_cached_ms"], _ = timed(
        lambda: http.get(f"/api/v1/studies/{study}/importance").raise_for_status(), 3)
    return out


def train_live(base: str, study: int, stop: threading.Event) -> None:
    """Be a worker: claim, report 3 epochs, finish, about one trial a second."""
    with httpx.Client(base_url=base, timeout=60) as http:
        k = 0
        while not stop.is_set():
            r = http.post("/api/v1/trials/claim", json={"worker": "live", "studies": [study]})
            if r.status_code == 204:
                return
            task = r.json()
            for step in (1, 2, 3):
                http.post(f"/api/v1/trials/{task['id']}/report", json={
                    "lease_token": task["lease_token"], "step": step,
                    "metrics": {"val_accuracy": 0.3 + 0.2 * step + 0.01 * (k % 7)}})
                stop.wait(0.3)
            http.post(f"/api/v1/trials/{task['id']}/finish", json={
                "lease_token": task["lease_token"], "state": "completed",
                "metrics": {"val_accuracy": 0.9 + 0.001 * (k % 50)}})
            k += 1


def browser_numbers(base: str, study: int, live_seconds: float) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(base + "/static/style.css")  # warm the cache of static files once
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        cdp.send("Network.enable")
        encoded: list[tuple[float, str, float]] = []  # (time, url, bytes)
        urls: dict[str, str] = {}
        cdp.on("Network.responseReceived",
               lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
        cdp.on("Network.loadingFinished", lambda e: encoded.append(
            (time.perf_counter(), urls.get(e["requestId"], ""), e["encodedDataLength"])))
        t0 = time.perf_counter()
        page.goto(f"{base}/studies/{study}")
        page.wait_for_function("performance.getEntriesByName('study-ready').length > 0",
                               timeout=120_000)
        ready = page.evaluate("performance.getEntriesByName('study-ready')[0].startTime")
        page.wait_for_selector("#importance .bar-row, #importance .note", timeout=120_000)
        importance_s = time.perf_counter() - t0
        load_kb = sum(b for _, _, b in encoded) / 1024
        page.evaluate("""() => { window.longest = 0; new PerformanceObserver((list) => {
          for (const e of list.getEntries()) window.longest = Math.max(window.longest, e.duration);
        }).observe({type: "longtask"}); }""")
        stop = threading.Event()
        worker = threading.Thread(target=train_live, args=(base, study, stop), daemon=True)
        worker.start()
        page.wait_for_timeout(3_000)  # let the first live redraw happen outside the window

        def task_ms() -> float:
            metrics = cdp.send("Performance.getMetrics")["metrics"]
            return 1000 * next(m["value"] for m in metrics if m["name"] == "TaskDuration")

        start_task, start_t = task_ms(), time.perf_counter()
        page.wait_for_timeout(1000 * live_seconds)
        end_task, end_t = task_ms(), time.perf_counter()
        stop.set()
        worker.join(timeout=30)
        window = [(u, b) for t, u, b in encoded if start_t <= t <= end_t]
        polls = sum(1 for u, _ in window if u.rstrip("/").endswith(f"/studies/{study}"))
        longest = page.evaluate("window.longest")
        charts_drawn = page.evaluate("chartsVersion")
        browser.close()
    return {"ready_s": ready / 1000, "importance_s": importance_s, "load_kb": load_kb,
            "polls": polls, "main_ms_per_poll": (end_task - start_task) / max(polls, 1),
            "kb_per_poll": sum(b for _, b in window) / 1024 / max(polls, 1),
            "longest_task_ms": longest, "window_s": end_t - start_t,
            "charts_current": bool(charts_drawn)}


def run(kind: str, trials: int, live_seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    scratch = Scratch.create(kind, tmp)
    port = 18_000 + os.getpid() % 1000
    proc = start_server(scratch.url, port, 1)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=600) as http:
            t0 = time.perf_counter()
            study = fill(http, trials)
            fill_s = time.perf_counter() - t0
            # as in a study that ran for hours: no trial finished within the points
            # endpoint's overlap window, so a delta carries only what changed
            time.sleep(OVERLAP_S + 1)
            numbers = {"db": kind, "trials": trials, "fill_s": fill_s,
                       "load_before": os.getloadavg()[0], **endpoint_numbers(http, study)}
        numbers.update(browser_numbers(base, study, live_seconds))
        numbers["load_after"] = os.getloadavg()[0]  # the machine is shared: say how busy
        return numbers
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        scratch.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--live-seconds", type=float, default=30.0)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        print(json.dumps(run(kind, args.trials, args.live_seconds)), flush=True)


if __name__ == "__main__":
    main()
