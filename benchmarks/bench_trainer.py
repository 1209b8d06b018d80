"""One training epoch of the same MLP in hpsearch (NumPy) and PyTorch (CPU, eager).

Both sides: ReLU MLP, float32, SGD with momentum 0.9, L2 on weights only (hpsearch also
computes the penalty for its loss), shuffled mini-batches without the last partial batch,
the loss read back every step (hpsearch checks it for early abort), same thread count.
Runs alternate between the sides; the table shows the best of ``--repeats`` epochs per
side (the run least disturbed by other load) with the median in brackets.

GEMM limit: ``6 * N * sum(fan_in * fan_out)`` FLOPs (forward 2, backward 4 per weight and
example) at the measured 2048^3 float32 matmul rate. Neither side computes the first layer's
input gradient, so a network dominated by its first layer can come in under the limit.

``--whole EPOCHS`` times whole ``train()`` runs instead, hpsearch only: the epochs plus what
the worker does around them (schedule, per-epoch metrics and diagnostics, best weights).
``--against FILE`` pairs each of those runs with one of another version of the trainer (a
refactoring's before and after, side by side on a busy machine: a pair shares its load).

    .venv/bin/pip install torch   # benchmark-only extra, never imported by worker code
    .venv/bin/python benchmarks/bench_trainer.py [--repeats 5] [--only NAME] [--threads N]
    .venv/bin/python benchmarks/bench_trainer.py --whole 3 [--repeats 5]
    git show REV:worker/nn/trainer.py > /tmp/trainer_rev.py
    .venv/bin/python benchmarks/bench_trainer.py --whole 3 --against /tmp/trainer_rev.py \
        --threads 1 --clock cpu
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from worker.datasets import Dataset
from worker.nn.config import TrainConfig
from worker.nn.model import MLP
from worker.nn.optim import UPDATE_RULES
from worker.nn.trainer import DivergenceGuard, MiniBatchLoop, train

LEARNING_RATE, MOMENTUM, REG = 1e-3, 0.9, 5e-4
TrainFn = Callable[[TrainConfig, Dataset], Any]
# cpu: this process's CPU seconds, steadier than wall time on a shared machine (with
# --threads 1, so that no idle BLAS thread spins)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
PAUSE_S = 0.3  # lets the other library's idle worker threads stop spinning


@dataclass(frozen=True)
class Case:
    """One benchmark network and data size."""

    name: str
    dims: tuple[int, ...]  # input, hidden..., classes
    n: int
    batch: int
    batchnorm: bool = False

    @property
    def gemm_flops(self) -> float:
        return 6.0 * self.n * sum(a * b for a, b in zip(self.dims, self.dims[1:], strict=False))


CASES = [
    Case("64-100-10", (64, 100, 10), 1_500, 64),
    Case("3072-100-10", (3072, 100, 10), 49_000, 200),
    Case("3072-512x3-10 bn", (3072, 512, 512, 512, 10), 10_000, 256, batchnorm=True),
    Case("784-256-256-10", (784, 256, 256, 10), 60_000, 128),
]


def case_config(case: Case, **extra: Any) -> TrainConfig:
    """The case's network, trained with SGD momentum and L2 as on the PyTorch side."""
    return TrainConfig(
        hidden_sizes=case.dims[1:-1],
        batchnorm=case.batchnorm,
        reg=REG,
        optimizer="momentum",
        learning_rate=LEARNING_RATE,
        momentum=MOMENTUM,
        **extra,
    )


def hpsearch_epoch(case: Case, X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    """Return a function running one epoch of the hpsearch trainer's mini-batch loop."""
    config = case_config(case)
    rng = np.random.default_rng(0)
    model = MLP(case.dims[0], case.dims[-1], config, rng)
    state = {"learning_rate": LEARNING_RATE, "momentum": MOMENTUM}
    loop = MiniBatchLoop(model, UPDATE_RULES["momentum"], state, X, y, case.batch, rng)
    guard = DivergenceGuard(config.loss_factor)

    def run() -> None:
        outcome = loop.run_epoch(1, guard)
        assert outcome.reason is None, outcome.reason

    return run


def hpsearch_run(
    case: Case, X: np.ndarray, y: np.ndarray, epochs: int, train_fn: TrainFn = train
) -> Callable[[], None]:
    """Return a function running ``train_fn`` (``train()``) for ``epochs`` epochs (a tenth
    of the examples held out for validation, no stall abort: the labels are random)."""
    n_val = case.n // 10
    data = Dataset(X[n_val:], y[n_val:], X[:n_val], y[:n_val], None, None, case.dims[-1],
                   "random")
    config = case_config(case, batch_size=case.batch, epochs=epochs, stall_epochs=0)

    def run() -> None:
        result = train_fn(config, data)
        assert result.state == "completed", result.reason

    return run


def other_train(path: str) -> TrainFn:
    """``train`` of another version of worker/nn/trainer.py (e.g. `git show REV:...`)."""
    spec = importlib.util.spec_from_file_location("other_trainer", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return cast(TrainFn, module.train)


def whole_runs(args: argparse.Namespace) -> None:
    """The ``--whole`` table: best (median) seconds of a ``train()`` run per case; with
    ``--against``, this trainer and the other one in pairs, alternating which goes first."""
    sides = {"this": train, **({"other": other_train(args.against)} if args.against else {})}
    runs = f"train() x {args.whole} epochs {'CPU ' if args.clock == 'cpu' else ''}s"
    cols = "".join(f" {f'{name}: {runs}':>34} |" for name in sides)
    wins = f" {'this faster':>11} |" if len(sides) == 2 else ""
    print(f"| {'config':<17} | {'N':>6} | {'batch':>5} |{cols}{wins}")
    print(f"|{'-' * 19}|{'-' * 8}|{'-' * 7}|" + f"{'-' * 36}|" * len(sides)
          + (f"{'-' * 13}|" if wins else ""))
    for case in chosen(args.only):
        X, y = case_data(case)
        fns = {name: hpsearch_run(case, X, y, args.whole, fn) for name, fn in sides.items()}
        times: dict[str, list[float]] = {name: [] for name in fns}
        for run in fns.values():
            run()  # warm-up
        for rep in range(args.repeats):
            for name in list(fns) if rep % 2 == 0 else list(fns)[::-1]:
                times[name].append(timed(fns[name], CLOCKS[args.clock]))
        cells = "".join(f" {f'{min(t):.3f} ({statistics.median(t):.3f})':>34} |"
                        for t in times.values())
        if wins:
            won = sum(a < b for a, b in zip(times["this"], times["other"], strict=True))
            cells += f" {f'{won}/{args.repeats}':>11} |"
        print(f"| {case.name:<17} | {case.n:>6} | {case.batch:>5} |{cells}", flush=True)


def torch_epoch(case: Case, X: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    """The same epoch written the usual PyTorch way."""
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in zip(case.dims[:-2], case.dims[1:-1], strict=True):
        layers.append(torch.nn.Linear(fan_in, fan_out, bias=not case.batchnorm))
        if case.batchnorm:
            layers.append(torch.nn.BatchNorm1d(fan_out))
        layers.append(torch.nn.ReLU())
    layers.append(torch.nn.Linear(case.dims[-2], case.dims[-1]))
    model = torch.nn.Sequential(*layers)
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    others = [p for p in model.parameters() if all(p is not w for w in weights)]
    opt = torch.optim.SGD(
        [{"params": weights, "weight_decay": REG}, {"params": others, "weight_decay": 0.0}],
        lr=LEARNING_RATE,
        momentum=MOMENTUM,
    )
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    steps = case.n // case.batch
    gen = torch.Generator().manual_seed(0)

    def run() -> None:
        order = torch.randperm(case.n, generator=gen)
        total = 0.0
        for step in range(steps):
            idx = order[step * case.batch : (step + 1) * case.batch]
            xb, yb = Xt[idx], yt[idx]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item()

    return run


def matmul_rates(size: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """Best float32 GEMM rate (FLOP/s) of NumPy and of PyTorch on size^3."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    b, c = a.copy(), np.empty_like(a)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    best_np = best_torch = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        np.dot(a, b, out=c)
        best_np = min(best_np, time.perf_counter() - t)
        t = time.perf_counter()
        torch.mm(ta, tb)
        best_torch = min(best_torch, time.perf_counter() - t)
    flops = 2.0 * size**3
    return flops / best_np, flops / best_torch


def timed(run: Callable[[], None], clock: Callable[[], float] = time.perf_counter) -> float:
    time.sleep(PAUSE_S)
    start = clock()
    run()
    return clock() - start


def chosen(only: str | None) -> list[Case]:
    """The benchmark's cases, or only the one named."""
    return [case for case in CASES if not only or case.name == only]


def case_data(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The case's inputs and labels, the same on every run."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((case.n, case.dims[0]), dtype=np.float32)
    return X, rng.integers(0, case.dims[-1], case.n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per side")
    parser.add_argument("--only", help="run only the case with this name")
    parser.add_argument(
        "--threads", type=int, help="BLAS/torch threads (default: the cores this process has)"
    )
    parser.add_argument("--whole", type=int, metavar="EPOCHS",
                        help="time whole train() runs of EPOCHS epochs instead (hpsearch only)")
    parser.add_argument("--against", metavar="TRAINER_PY",
                        help="with --whole: pair each run with another worker/nn/trainer.py")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="with --whole: wall time, or this process's CPU time")
    args = parser.parse_args()
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        blas = ", ".join(
            f"{i['internal_api']} {i['version']} ({i.get('architecture')})"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        )
        print(
            f"machine: {platform.machine()} {platform.processor() or ''} "
            f"{os.cpu_count()} cores, {threads} threads each side; load "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        print(f"numpy {np.__version__} ({blas}); torch {torch.__version__}")
        if args.whole:
            whole_runs(args)
            return
        np_rate, torch_rate = matmul_rates()
        rate = max(np_rate, torch_rate)
        print(
            f"2048^3 float32 matmul: numpy {np_rate / 1e9:.1f} GFLOP/s, "
            f"torch {torch_rate / 1e9:.1f} GFLOP/s; limit uses {rate / 1e9:.1f}"
        )
        print()
        header = (
            f"| {'config':<17} | {'N':>6} | {'batch':>5} | {'hpsearch s':>15} | "
            f"{'torch s':>15} | {'hps/torch':>15} | {'GEMM limit s':>12} | {'hps/limit':>9} |"
        )
        print(header)
        print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
        for case in chosen(args.only):
            X, y = case_data(case)
            sides = {"hpsearch": hpsearch_epoch(case, X, y), "torch": torch_epoch(case, X, y)}
            for run in sides.values():  # warm-up: buffers, lazy initialisation
                run()
            times: dict[str, list[float]] = {name: [] for name in sides}
            for rep in range(args.repeats):
                order = list(sides) if rep % 2 == 0 else list(sides)[::-1]
                for name in order:
                    times[name].append(timed(sides[name]))
            hps, tor = min(times["hpsearch"]), min(times["torch"])
            med_h, med_t = statistics.median(times["hpsearch"]), statistics.median(times["torch"])
            limit = case.gemm_flops / rate
            print(
                f"| {case.name:<17} | {case.n:>6} | {case.batch:>5} | "
                f"{f'{hps:.3f} ({med_h:.3f})':>15} | {f'{tor:.3f} ({med_t:.3f})':>15} | "
                f"{f'{hps / tor:.2f}x ({med_h / med_t:.2f}x)':>15} | {limit:>12.3f} | "
                f"{hps / limit:>8.2f}x |",
                flush=True,
            )
        print(f"\nload after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
