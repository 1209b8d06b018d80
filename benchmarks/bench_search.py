"""Search quality under a fixed budget of trained epochs: hpsearch vs random search vs Optuna.

Every method drives the same NumPy trainer (2 hidden ReLU layers, He init, SGD momentum 0.9,
batch 100) over the same space and stops when the budget of trained epochs is spent; every
epoch counts, including those of aborted and pruned trials. Per method it reports the
median and IQR over seeds of the best validation accuracy and of the held-out test accuracy
of the trial the search picked (best validation accuracy among completed and pruned trials;
for hpsearch, the candidate its confirmation picked: the best mean over fresh-seed runs).

    .venv/bin/python benchmarks/bench_search.py --dataset mnist1d --seeds 10 --workers 2

Optuna (``pip install optuna``) is needed for the ``tpe`` and ``optuna-random`` methods.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from app.search.confirm import ConfirmPolicy, candidates, confirmation_cost, confirmed, pick
from app.search.pruning import PruningPolicy, should_prune
from app.search.refine import RefinePolicy, default_plan, refine
from app.search.samplers import sample
from app.search.space import SearchSpace
from app.search.trials import TrialOutcome
from worker.datasets import load_dataset
from worker.nn.config import config_from
from worker.nn.trainer import train

SPACE = {
    "learning_rate": {"type": "log_uniform", "low": 1e-5, "high": 1.0},
    "reg": {"type": "log_uniform", "low": 1e-6, "high": 1e-1},
    "hidden_size": {"type": "int", "low": 16, "high": 512, "log": True},
}
FIXED = {
    "num_layers": 2,
    "activation": "relu",
    "init": "he",
    "optimizer": "momentum",
    "momentum": 0.9,
    "batch_size": 100,
    "monitor": False,  # per-layer diagnostics do not change training; skip their cost
}
# hpsearch-unconfirmed: the default plan without its confirmation stage (an ablation)
METHODS = ("random", "hpsearch", "tpe", "optuna-random", "hpsearch-unconfirmed")
README = Path(__file__).with_name("README.md")
SECTION = "## Search quality (bench_search.py)"


@dataclass
class Trial:
    """One trained trial as the benchmark records it."""

    params: dict[str, Any]
    state: str
    val: float
    test: float
    epochs: int


class Runner:
    """Trains trials on one dataset while counting every epoch against the budget."""

    def __init__(self, dataset: str, budget: int, seed: int) -> None:
        self.data = load_dataset(dataset)
        self.budget = budget
        self.seed = seed
        self.trials: list[Trial] = []

    @property
    def remaining(self) -> int:
        return self.budget - sum(t.epochs for t in self.trials)

    def run(
        self, params: dict[str, Any], epochs: int, stop: Callable[[int, float], bool] | None = None
    ) -> Trial:
        """Train ``params`` for at most ``epochs`` (cut to the budget left); ``stop(epoch,
        best val so far)`` may prune it after any epoch."""
        best = -math.inf

        def on_epoch(epoch: int, metrics: dict[str, Any]) -> bool:
            nonlocal best
            best = max(best, metrics["val_accuracy"])
            return stop is not None and stop(epoch, best)

        config = config_from(
            {**FIXED, **params},
            epochs=min(epochs, self.remaining),
            seed=self.seed * 100_000 + len(self.trials),
        )
        result = train(config, self.data, on_epoch=on_epoch)
        m = result.metrics
        trial = Trial(
            params, result.state, m.get("val_accuracy", 0.0), m.get("test_accuracy", 0.0),
            m["epochs_run"],
        )
        self.trials.append(trial)
        return trial

    def picked(self) -> Trial:
        """The trial the search would hand to the user: best val among the ones that trained."""
        return max((t for t in self.trials if t.state != "aborted"), key=lambda t: t.val)


def search_random(runner: Runner, max_epochs: int) -> None:
    """Plain random search: full-length trials until the budget is spent."""
    space = SearchSpace.model_validate(SPACE)
    for params in sample(space, runner.budget, seed=runner.seed):
        if runner.remaining <= 0:
            return
        runner.run(params, max_epochs)


def search_hpsearch(runner: Runner, max_epochs: int, *, confirm: bool = True) -> Trial | None:
    """Coarse-to-fine with pruning inside every stage, then the confirmation of the top
    candidates, as the server runs a default study; returns the pick (None: no
    confirmation, the best val is the pick)."""
    space = SearchSpace.model_validate(SPACE)
    plan = default_plan(runner.budget, max_epochs=max_epochs, confirm=confirm)
    stages = [s for s in plan if "confirm" not in s]
    confirm = next((s for s in plan if "confirm" in s), None)
    reserve = (confirmation_cost(ConfirmPolicy.model_validate(confirm["confirm"]),
                                 confirm["epochs"]) if confirm else 0)
    searched: list[tuple[Trial, TrialOutcome]] = []
    for index, stage in enumerate(stages):
        pruning = PruningPolicy.model_validate(stage["pruning"])
        last = index == len(stages) - 1
        stage_end = reserve if last else max(reserve, runner.remaining - stage["budget"])
        curves: dict[int, list[float]] = {}
        outcomes = []
        points = iter(sample(space, runner.budget, seed=runner.seed * 100 + index,
                             method=stage["sampler"]))
        while runner.remaining > stage_end:
            epochs = min(stage["epochs"], runner.remaining - reserve)
            trial = runner.run(next(points), epochs,
                               _stage_pruner(pruning, curves, stage["epochs"]))
            outcome = TrialOutcome(trial.params, trial.state, trial.val, trial.epochs,
                                   allowed=epochs)
            outcomes.append(outcome)
            searched.append((trial, outcome))
        if stage["refine"] is not None:
            space, _ = refine(space, outcomes, RefinePolicy.model_validate(stage["refine"]))
    return _confirm(runner, searched, confirm) if confirm else None


def _confirm(
    runner: Runner, searched: list[tuple[Trial, TrialOutcome]], step: dict[str, Any]
) -> Trial | None:
    """Train the top candidates again (fresh seeds, full length, no pruning); the pick is
    the candidate whose runs have the best mean val accuracy (its own trial is returned)."""
    policy = ConfirmPolicy.model_validate(step["confirm"])
    ids = candidates([(i, o) for i, (_, o) in enumerate(searched)], policy.top, maximize=True)
    runs: dict[int, list[TrialOutcome | None]] = {}
    for i in ids:
        trial, outcome = searched[i]
        repeats = [runner.run(trial.params, step["epochs"]) for _ in range(policy.repeats)]
        runs[i] = [outcome, *(TrialOutcome(r.params, r.state, r.val, r.epochs,
                                           allowed=step["epochs"]) for r in repeats)]
    chosen = pick(confirmed(runs, epochs=step["epochs"]), maximize=True)
    return searched[chosen.candidate][0] if chosen else None


def _stage_pruner(
    policy: PruningPolicy, curves: dict[int, list[float]], max_epochs: int
) -> Callable[[int, float], bool]:
    """Judge a trial against the curves of the stage's earlier trials, then record it."""

    def stop(epoch: int, value: float) -> bool:
        verdict = should_prune(policy, epoch=epoch, value=value, others=curves,
                               maximize=True, max_epochs=max_epochs)
        curves.setdefault(epoch, []).append(value)
        return verdict

    return stop


def search_optuna(runner: Runner, max_epochs: int, sampler_name: str) -> None:
    """Optuna (TPE or random sampler) with its MedianPruner, driven through ask/tell."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=runner.seed)
        if sampler_name == "tpe"
        else optuna.samplers.RandomSampler(seed=runner.seed)
    )
    study = optuna.create_study(
        direction="maximize", sampler=sampler, pruner=optuna.pruners.MedianPruner()
    )
    while runner.remaining > 0:
        ot = study.ask()
        params = {
            "learning_rate": ot.suggest_float("learning_rate", 1e-5, 1.0, log=True),
            "reg": ot.suggest_float("reg", 1e-6, 1e-1, log=True),
            "hidden_size": ot.suggest_int("hidden_size", 16, 512, log=True),
        }

        def stop(epoch: int, value: float, ot: optuna.Trial = ot) -> bool:
            ot.report(value, epoch)
            return ot.should_prune()

        trial = runner.run(params, max_epochs, stop)
        if trial.state == "pruned":
            study.tell(ot, state=optuna.trial.TrialState.PRUNED)
        else:  # a diverged trial is a poor result, not a failure: TPE learns from it
            study.tell(ot, trial.val)


def run_job(job: tuple[str, str, int, int, int]) -> dict[str, Any]:
    """One search (method, dataset, seed) in a worker process; returns its summary."""
    method, dataset, seed, budget, max_epochs = job
    start = time.perf_counter()
    picked = None
    with threadpool_limits(1):
        runner = Runner(dataset, budget, seed)
        if method == "random":
            search_random(runner, max_epochs)
        elif method.startswith("hpsearch"):
            picked = search_hpsearch(runner, max_epochs, confirm=method == "hpsearch")
        else:
            search_optuna(runner, max_epochs, "tpe" if method == "tpe" else "random")
    best = picked or runner.picked()
    states = [t.state for t in runner.trials]
    return {
        "method": method,
        "dataset": dataset,
        "seed": seed,
        "budget": budget,
        "max_epochs": max_epochs,
        "val": best.val,
        "test": best.test,
        "epochs": budget - runner.remaining,
        "trials": len(states),
        "aborted": states.count("aborted"),
        "pruned": states.count("pruned"),
        "best": best.params,
        "seconds": time.perf_counter() - start,
    }


def summarise(rows: list[dict[str, Any]], methods: list[str]) -> list[str]:
    """A markdown table: median [IQR] of best val and picked test accuracy per method."""

    def stat(values: list[float]) -> str:
        q1, med, q3 = np.percentile(values, [25, 50, 75])
        return f"{100 * med:.1f}% [{100 * q1:.1f}, {100 * q3:.1f}]"

    lines = [
        "| method | best val acc, median [IQR] | test acc of pick, median [IQR] "
        "| epochs | trials (aborted, pruned) | s per search |",
        "|---|---|---|---|---|---|",
    ]
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        if not rs:
            continue
        med = {k: float(np.median([r[k] for r in rs])) for k in
               ("epochs", "trials", "aborted", "pruned", "seconds")}
        lines.append(
            f"| {m} | {stat([r['val'] for r in rs])} | {stat([r['test'] for r in rs])} "
            f"| {med['epochs']:.0f} | {med['trials']:.0f} ({med['aborted']:.0f}, "
            f"{med['pruned']:.0f}) | {med['seconds']:.0f} |"
        )
    return [*lines, "", *paired(rows, methods)]


def paired(rows: list[dict[str, Any]], methods: list[str]) -> list[str]:
    """hpsearch against each other method on the same seeds: mean difference with its
    95% confidence interval (paired t), and wins."""
    ours = {r["seed"]: r for r in rows if r["method"] == "hpsearch"}
    out = []
    for m in methods:
        theirs = {r["seed"]: r for r in rows if r["method"] == m and r["seed"] in ours}
        if m == "hpsearch" or not theirs:
            continue
        diffs = {
            k: [ours[s][k] - r[k] for s, r in theirs.items()] for k in ("val", "test")
        }
        out.append(
            f"- hpsearch vs {m}, same seeds: val {_mean_ci(diffs['val'])} "
            f"(better on {sum(d > 0 for d in diffs['val'])}/{len(theirs)}), test "
            f"{_mean_ci(diffs['test'])} "
            f"(better on {sum(d > 0 for d in diffs['test'])}/{len(theirs)})"
        )
    return out


def _mean_ci(diffs: list[float]) -> str:
    """Mean difference in points with the 95% t-interval, e.g. '+0.4 points [-0.3, +1.1]'."""
    mean = 100 * float(np.mean(diffs))
    if len(diffs) < 2:
        return f"{mean:+.1f} points"
    half = 100 * float(stats.t.ppf(0.975, len(diffs) - 1) * stats.sem(diffs))
    return f"{mean:+.1f} points [{mean - half:+.1f}, {mean + half:+.1f}]"


def machine(load: tuple[float, float]) -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo")
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), load average {load[0]:.1f} at the start and "
        f"{load[1]:.1f} at the end; Python {platform.python_version()}, NumPy {np.__version__}"
    )


def _lines(path: str) -> Iterator[str]:
    try:
        yield from Path(path).read_text().splitlines()
    except OSError:
        return


def write_readme(intro: list[str], tables: dict[str, list[str]]) -> None:
    """Rewrite this benchmark's section of benchmarks/README.md: ``intro``, then one
    ``### dataset`` part per dataset (parts for datasets not run this time are kept)."""
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    found = pattern.search(text)
    parts = dict(re.findall(r"^### (\S+)\n(.*?)(?=^### |\Z)", found.group(0), re.S | re.M)
                 if found else [])
    parts.update({d: "\n".join(lines) for d, lines in tables.items()})
    section = "\n".join([SECTION, "", *intro, "", ""]) + "".join(
        f"### {d}\n\n{body.strip()}\n\n" for d, body in parts.items()
    )
    if found:
        text = text[: found.start()] + section + text[found.end():]
    else:
        text = text.rstrip() + "\n\n" + section
    README.write_text(text.rstrip() + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", action="append", help="mnist1d (default), digits; repeat")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=2000, help="trained epochs per search")
    parser.add_argument("--max-epochs", type=int, default=50, help="epochs per trial at most")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--json", type=Path,
        help="results file: searches already in it are reused, new ones appended as they end",
    )
    parser.add_argument("--write-readme", action="store_true",
                        help=f"write the tables into {README.name} under {SECTION!r}")
    args = parser.parse_args(argv)
    datasets = args.dataset or ["mnist1d"]
    methods = args.methods.split(",")
    unknown = set(methods) - set(METHODS)
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    jobs = [(m, d, s, args.budget, args.max_epochs)
            for d in datasets for s in range(args.seeds) for m in methods]
    rows = [r for r in _saved(args.json) if _key(r) in jobs]
    todo = [j for j in jobs if j not in {_key(r) for r in rows}]
    print(f"{len(jobs) - len(todo)} searches reused from {args.json}, {len(todo)} to run")
    start, load_start = time.perf_counter(), os.getloadavg()[0]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for done, row in enumerate(pool.imap_unordered(run_job, todo), 1):
            rows.append(row)
            if args.json:
                args.json.write_text(json.dumps([*_saved(args.json), row], indent=1))
            print(
                f"[{done}/{len(todo)} {time.perf_counter() - start:.0f}s] {row['dataset']} "
                f"{row['method']} seed {row['seed']}: val {row['val']:.3f} test "
                f"{row['test']:.3f}, {row['trials']} trials, {row['seconds']:.0f}s",
                flush=True,
            )
    load = (load_start, os.getloadavg()[0])
    command = " ".join([".venv/bin/python", "benchmarks/bench_search.py", *sys.argv[1:]])
    stages = " + ".join(
        str(s["budget"]) if "budget" in s
        else f"confirmation {s['confirm']['top']}x{s['confirm']['repeats']}x{s['epochs']}"
        for s in default_plan(args.budget, max_epochs=args.max_epochs)
    )
    tables = {}
    for d in datasets:
        ds_rows = [r for r in rows if r["dataset"] == d]
        table = summarise(ds_rows, methods)
        minutes = sum(r["seconds"] for r in ds_rows) / 60
        tables[d] = [
            f"`{command}`: {args.seeds} seeds, budget {args.budget} epochs (at most "
            f"{args.max_epochs} per trial; hpsearch stages of {stages} epochs). "
            f"{len(ds_rows)} searches, {minutes:.0f} min of search time in "
            f"{args.workers} worker processes (wall time about {minutes / args.workers:.0f} "
            f"min) on {machine(load)}.",
            "",
            *table,
        ]
        print("\n".join(["", d, *table]))
    if args.write_readme:
        write_readme(intro(), tables)


def _saved(path: Path | None) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path and path.exists() else []


def _key(row: dict[str, Any]) -> tuple[str, str, int, int, int]:
    return row["method"], row["dataset"], row["seed"], row["budget"], row["max_epochs"]


def intro() -> list[str]:
    """What the methods are, for the README."""
    plan = default_plan(10_000)
    return [
        "Same NumPy trainer (2 hidden ReLU layers, He init, SGD momentum 0.9, batch 100), "
        "space learning_rate log [1e-5, 1], reg log [1e-6, 1e-1], hidden_size int log "
        "[16, 512]; every epoch trained counts against the budget (aborted and pruned "
        "trials included). Each search picks the trial with the best val accuracy among "
        "its completed and pruned trials (hpsearch: its confirmed pick, below); its test "
        "accuracy is on the held-out test set "
        "(weights of its best val epoch). Median [25th, 75th percentile] over seeds. "
        "The val set of mnist1d has 600 examples and the pick is the best of hundreds of "
        "trials, so best val is optimistic and noisy (a seed's spread is 1 to 2 points); "
        "the test accuracy of the pick is the fairer comparison.",
        "",
        "- random: full-length trials, random sampler, no pruning.",
        "- hpsearch: `default_plan(budget)` run in-process with app.search: three stages "
        "spending 30%, 30% and 40% of the budget left after the confirmation's share (one "
        "stage under 30 full-length trials), "
        f"each {plan[0]['sampler']}-sampled and pruned with `{plan[0]['pruning']}`, the "
        f"space refined between stages with `{plan[0]['refine']}`; then the confirmation "
        "(about 12% of the budget): the top candidates trained again at full length with "
        "fresh seeds, and the pick is the candidate with the best mean val accuracy over "
        "its runs (its own trial's val and test accuracy are reported). A server study "
        "given `budget` and `max_epochs` instead of `stages` runs this plan.",
        "- tpe / optuna-random: Optuna TPESampler / RandomSampler (seeded) with the default "
        "MedianPruner, driven by ask/tell; a diverged trial is told its (poor) val accuracy.",
    ]


if __name__ == "__main__":
    main()
