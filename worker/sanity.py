"""``hpsearch sanity``: the lecture's babysitting checks before a real search.

1. the initial loss with reg=0 is near ln(C);
2. adding reg raises the loss by exactly 0.5 * reg * sum(W**2);
3. the analytic gradient of the model matches a numerical one;
4. a tiny subset (20 examples) can be overfit to 100% train accuracy;
5. the model's activations at init are healthy (not dead, saturated or collapsed);
6-8. on unit-gaussian data through 10 layers of 500: small-gaussian init collapses tanh
     activations, Xavier keeps them alive, He keeps ReLU layers alive.

Each check prints PASS or FAIL with its number; the exit status is 1 when one fails
(2 for bad options or an unusable dataset).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from worker.datasets import Dataset, DatasetError, load_dataset
from worker.nn.config import (
    ACTIVATIONS,
    INITS,
    OPTIMIZERS,
    PREPROCESSINGS,
    ConfigError,
    TrainConfig,
    config_from,
)
from worker.nn.diagnostics import health_notes, layer_report
from worker.nn.gradcheck import sparse_check
from worker.nn.model import MLP
from worker.nn.preprocessing import Preprocessor
from worker.nn.trainer import train

INITIAL_LOSS_TOLERANCE = 0.1  # |loss - ln C| <= 10% of ln C
LOSS_BATCH = 500
OVERFIT_EXAMPLES = 20
GRADCHECK_EXAMPLES = 4
GRADCHECK_TOLERANCE = 1e-5  # float64 centred differences; ReLU kinks make 1e-6 too tight here
DEMO_LAYERS, DEMO_UNITS, DEMO_EXAMPLES = 10, 500, 1000

CheckResult = tuple[bool, str]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hpsearch sanity",
        description="Babysitting checks of a model on a dataset before a search.",
    )
    p.add_argument(
        "--dataset",
        default="digits",
        help="digits, mnist1d, spiral, npz:PATH, cifar10:DIR (default: digits)",
    )
    p.add_argument("--hidden", help="hidden sizes, e.g. 100 or 100,50 or 100x3")
    p.add_argument("--activation", choices=ACTIVATIONS)
    p.add_argument("--init", choices=INITS)
    p.add_argument("--init-std", type=float, help="std of the small-gaussian init")
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--dropout", type=float, help="drop probability")
    p.add_argument("--preprocessing", choices=PREPROCESSINGS)
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--learning-rate", type=float)
    p.add_argument(
        "--reg", type=float, help="L2 strength for check 2 (default: 1.0 if the model's reg is 0)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other training setting (repeatable), value as JSON or text",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overfit-epochs", type=int, default=500)
    return p


def _settings(args: argparse.Namespace) -> dict[str, object]:
    settings: dict[str, object] = {}
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set needs KEY=VALUE, got {item!r}")
        try:
            settings[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            settings[key.strip()] = raw
    named = {
        "hidden_sizes": args.hidden,
        "activation": args.activation,
        "init": args.init,
        "init_std": args.init_std,
        "batchnorm": args.batchnorm,
        "dropout": args.dropout,
        "preprocessing": args.preprocessing,
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate,
    }
    settings.update({k: v for k, v in named.items() if v is not None})
    return settings


class _Checks:
    """Runs the checks on one config and dataset, printing each result."""

    def __init__(
        self,
        config: TrainConfig,
        data: Dataset,
        console: Console,
        reg: float | None,
        overfit_epochs: int,
    ) -> None:
        self.config = config
        self.data = data
        self.console = console
        self.reg = reg
        self.overfit_epochs = overfit_epochs
        pre = Preprocessor.fit(config.preprocessing, data.X_train, data.image_shape)
        n = min(LOSS_BATCH, data.X_train.shape[0])
        self.X = pre.transform(data.X_train[:n])
        self.y = data.y_train[:n]
        self.failed = 0

    def _model(self, config: TrainConfig, dtype: type = np.float32) -> MLP:
        rng = np.random.default_rng(config.seed)
        return MLP(self.X.shape[1], self.data.num_classes, config, rng, dtype=dtype)

    def _loss(self, model: MLP, X: np.ndarray, y: np.ndarray) -> float:
        model.dropout_rng = np.random.default_rng(self.config.seed + 1)  # same mask every call
        loss, _ = model.loss(X, y)
        return loss

    def run(self, number: int, title: str, check: Callable[[], CheckResult]) -> None:
        ok, detail = check()
        self.failed += not ok
        mark = "[green]PASS[/green]" if ok else "[red]FAIL[/red]"
        self.console.print(f"{mark} {number}. {title}: {detail}")

    def initial_loss(self) -> CheckResult:
        model = self._model(dataclasses.replace(self.config, reg=0.0))
        loss = self._loss(model, self.X, self.y)
        expected = math.log(self.data.num_classes)
        ok = abs(loss - expected) <= INITIAL_LOSS_TOLERANCE * expected
        return ok, (
            f"loss {loss:.3f} vs ln({self.data.num_classes}) = {expected:.3f} "
            f"(tolerance ±{INITIAL_LOSS_TOLERANCE:.0%})"
        )

    def reg_raises_loss(self) -> CheckResult:
        reg = self.reg if self.reg is not None else (self.config.reg or 1.0)
        model = self._model(dataclasses.replace(self.config, reg=reg))
        with_reg = self._loss(model, self.X, self.y)
        model.reg = 0.0
        without = self._loss(model, self.X, self.y)
        penalty = sum(
            0.5 * reg * float(np.sum(model.params[w].astype(np.float64) ** 2))
            for w in model.weight_names
        )
        raised = with_reg - without
        ok = raised > 0 and math.isclose(raised, penalty, rel_tol=1e-3, abs_tol=1e-6)
        return ok, (
            f"reg {reg:g}: loss {without:.4f} -> {with_reg:.4f} "
            f"(+{raised:.4g}, penalty 0.5*reg*sum(W^2) = {penalty:.4g})"
        )

    def gradient(self) -> CheckResult:
        config = dataclasses.replace(self.config, reg=self.config.reg or 1e-3)
        model = self._model(config, dtype=np.float64)
        X = self.X[:GRADCHECK_EXAMPLES].astype(np.float64)
        y = self.y[:GRADCHECK_EXAMPLES]
        self._loss(model, X, y)
        analytic = {k: v.copy() for k, v in model.grads.items()}
        rng = np.random.default_rng(self.config.seed)
        worst = max(
            sparse_check(
                lambda: self._loss(model, X, y),
                model.params[name],
                analytic[name],
                rng,
                num_checks=5,
            )
            for name in model.params
        )
        return worst < GRADCHECK_TOLERANCE, (
            f"max relative error {worst:.1e} over {len(model.params)} parameter arrays "
            f"(float64, < {GRADCHECK_TOLERANCE:g})"
        )

    def overfit(self) -> CheckResult:
        n = min(OVERFIT_EXAMPLES, self.data.X_train.shape[0])
        X, y = self.data.X_train[:n], self.data.y_train[:n]
        tiny = Dataset(X, y, X, y, None, None, self.data.num_classes, "tiny", self.data.image_shape)
        config = dataclasses.replace(
            self.config,
            reg=0.0,
            dropout=0.0,
            epochs=self.overfit_epochs,
            batch_size=n,
            stall_epochs=0,
            monitor=False,
            lr_decay="none",
        )
        result = train(config, tiny, on_epoch=lambda _e, m: m["train_accuracy"] == 1.0)
        acc = result.metrics.get("train_accuracy", 0.0)
        detail = (
            f"train accuracy {acc:.0%} on {n} examples after {result.metrics['epochs_run']} "
            f"epochs (reg 0, final loss {result.metrics['train_loss'] or math.nan:.3g})"
        )
        if result.state == "aborted":
            detail += f"; aborted: {result.reason}"
        return acc == 1.0, detail

    def activations(self) -> CheckResult:
        model = self._model(self.config)
        outputs: list[np.ndarray] = []
        model.dropout_rng = np.random.default_rng(0)
        scores, _ = model.forward(self.X, train=True, record=outputs)
        layers = layer_report(self.config.activation, [*outputs, scores], None)
        self._table(layers)
        notes = health_notes(layers)
        return not notes, "; ".join(notes) or f"{len(outputs)} hidden layer(s) healthy"

    def _table(self, layers: list[dict[str, Any]]) -> None:
        table = Table("layer", "mean", "std", "dead", "saturated", title="activations at init")
        for e in layers:
            name = str(e["layer"]) + (" (scores)" if e is layers[-1] else "")
            table.add_row(
                name,
                f"{e['act_mean']:.3g}",
                f"{e['act_std']:.3g}",
                f"{e['dead_fraction']:.0%}",
                f"{e['saturation_fraction']:.0%}",
            )
        self.console.print(table)


def _demo_stds(init: str, activation: str) -> list[dict[str, Any]]:
    """The lecture's experiment: unit-gaussian data through 10 layers of 500 units."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((DEMO_EXAMPLES, DEMO_UNITS), dtype=np.float32)
    config = TrainConfig(
        hidden_sizes=(DEMO_UNITS,) * DEMO_LAYERS,
        activation=activation,
        init=init,
        init_std=0.01,
        reg=0.0,
    )
    model = MLP(DEMO_UNITS, 10, config, rng)
    outputs: list[np.ndarray] = []
    scores, _ = model.forward(X, train=False, record=outputs)
    return layer_report(activation, [*outputs, scores], None)[:-1]


def _demo(init: str, activation: str, expect_alive: bool) -> CheckResult:
    layers = _demo_stds(init, activation)
    stds = " ".join(f"{e['act_std']:.2g}" for e in layers)
    last = layers[-1]
    alive = last["act_std"] > 0.1 and last["dead_fraction"] < 0.1
    return alive == expect_alive, f"layer std {stds}"


def main(argv: list[str] | None = None) -> int:
    """Run the checks; return 0 when all pass, 1 when one fails, 2 on bad input."""
    args = _parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    try:
        config = config_from(_settings(args), epochs=1, seed=args.seed)
        data = load_dataset(args.dataset)
    except (ConfigError, DatasetError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    hidden = ",".join(map(str, config.hidden_sizes)) or "none"
    console.print(
        f"dataset {data.name}: {data.X_train.shape[0]} train examples, "
        f"{data.X_train.shape[1]} features, {data.num_classes} classes; "
        f"model hidden {hidden}, {config.activation}, init {config.init}, "
        f"batchnorm {'on' if config.batchnorm else 'off'}"
    )
    checks = _Checks(config, data, console, args.reg, args.overfit_epochs)
    checks.run(1, "initial loss near ln(C) with reg=0", checks.initial_loss)
    checks.run(2, "adding reg raises the loss", checks.reg_raises_loss)
    checks.run(3, "gradient check", checks.gradient)
    checks.run(4, "overfit a tiny subset", checks.overfit)
    checks.run(5, "activations at init", checks.activations)
    checks.run(
        6,
        "small init (0.01) on 10 tanh layers collapses",
        lambda: _demo("small", "tanh", expect_alive=False),
    )
    checks.run(
        7,
        "Xavier on 10 tanh layers does not collapse",
        lambda: _demo("xavier", "tanh", expect_alive=True),
    )
    checks.run(8, "He keeps 10 ReLU layers alive", lambda: _demo("he", "relu", expect_alive=True))
    total = 8
    console.print(f"{total - checks.failed} of {total} checks passed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
