"""Mini-batch training with babysitting built in: early abort, stall detection, diagnostics."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from worker.nn.config import TrainConfig
from worker.nn.diagnostics import health_notes, layer_report, update_ratio
from worker.nn.model import MLP, ModelState
from worker.nn.optim import UPDATE_RULES, State, UpdateRule
from worker.nn.preprocessing import Preprocessor
from worker.nn.schedules import learning_rate_at

if TYPE_CHECKING:
    from worker.datasets import Dataset

Array = np.ndarray
OnEpoch = Callable[[int, dict[str, Any]], bool]
STATS_SAMPLE = 1024  # examples used for per-epoch activation statistics
LOSS_SMOOTHING = 0.9  # EMA factor of the training loss watched by the abort rule
STALL_LOSS_DROP = 0.1  # the loss must fall >10% below the initial loss ...
STALL_CHANCE_MARGIN = 0.05  # ... or val accuracy rise 5 points above chance


@dataclass
class TrainResult:
    """Outcome of one training run."""

    state: str  # "completed", "aborted" or "pruned"
    reason: str | None
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


class DivergenceGuard:
    """Per-step early abort: the smoothed loss exceeds ``factor`` x the initial loss, or the
    loss is not finite. The first loss it sees is the initial loss."""

    def __init__(self, factor: float, smoothing: float = LOSS_SMOOTHING) -> None:
        self.factor = factor
        self.smoothing = smoothing
        self.initial: float | None = None
        self.smoothed = math.nan

    def check(self, loss: float, epoch: int, step: int) -> str | None:
        """Record one step's loss; return the abort reason in words, or None."""
        if not math.isfinite(loss):
            return f"loss {loss} (non-finite) at epoch {epoch}, step {step}"
        if self.initial is None:
            self.initial = self.smoothed = loss
            return None
        self.smoothed = self.smoothing * self.smoothed + (1 - self.smoothing) * loss
        if self.smoothed > self.factor * self.initial:
            return (
                f"loss {self.smoothed:.3g} > {self.factor:g} x initial {self.initial:.2f} "
                f"at epoch {epoch}, step {step}"
            )
        return None


@dataclass
class EpochOutcome:
    """Mean loss of the steps run and why the epoch stopped early (if it did)."""

    mean_loss: float
    reason: str | None = None


class MiniBatchLoop:
    """Shuffled mini-batch epochs (the last partial batch is dropped; a set smaller than one
    batch is one batch), one forward/backward and one optimizer call per step."""

    def __init__(
        self,
        model: MLP,
        rule: UpdateRule,
        state: State,
        X: Array,
        y: Array,
        batch_size: int,
        rng: np.random.Generator,
    ) -> None:
        self.model = model
        self.rule = rule
        self.state = state
        self.X = X
        self.y = y
        self.batch = min(batch_size, X.shape[0])
        self.rng = rng
        self.steps = X.shape[0] // self.batch
        self._xb = np.empty((self.batch, X.shape[1]), model.dtype)
        self._yb = np.empty(self.batch, y.dtype)

    def run_epoch(
        self, epoch: int, guard: DivergenceGuard, before_last: Array | None = None
    ) -> EpochOutcome:
        """Run one epoch, checking ``guard`` every step. ``before_last`` receives a copy of
        the flat parameters just before the last update (for update/parameter ratios)."""
        order = self.rng.permutation(self.X.shape[0])
        model, rule, state = self.model, self.rule, self.state
        flat, grads = model.flat_params, model.flat_grads
        total = 0.0
        last = self.steps - 1
        for step in range(self.steps):
            idx = order[step * self.batch : (step + 1) * self.batch]
            # mode="clip": with out= the default "raise" copies through a temporary first
            # (a third of the gather's time); a permutation's indices are in range anyway
            np.take(self.X, idx, axis=0, out=self._xb, mode="clip")
            np.take(self.y, idx, out=self._yb, mode="clip")
            loss, _ = model.loss(self._xb, self._yb)
            reason = guard.check(loss, epoch, step + 1)
            if reason is not None:
                return EpochOutcome((total + loss) / (step + 1), reason)
            total += loss
            if step == last and before_last is not None:
                np.copyto(before_last, flat)
            rule(flat, grads, state)
        return EpochOutcome(total / self.steps)


def _num(value: float) -> float | None:
    """A plain float, or None for NaN/inf (JSON has neither)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _optimizer_state(config: TrainConfig) -> State:
    return {
        "learning_rate": config.learning_rate,
        "momentum": config.momentum,
        "beta1": config.beta1,
        "beta2": config.beta2,
        "epsilon": 1e-8,
    }


def _update_ratios(model: MLP, before: Array) -> list[float]:
    old = model.views(before)
    return [update_ratio(old[name], model.params[name]) for name in model.weight_names]


def train(config: TrainConfig, data: Dataset, on_epoch: OnEpoch | None = None) -> TrainResult:
    """Train an MLP on ``data`` and report per-epoch metrics and diagnostics.

    ``on_epoch(epoch, metrics)`` is called after each full epoch (from 1) with JSON-ready
    metrics; returning True stops the run as "pruned". The run is "aborted" when the loss
    diverges (checked every step) or stalls (after ``stall_epochs`` epochs). The weights of
    the epoch with the best val accuracy are kept for the test evaluation.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # the guard reports
        return Solver(config, data).run(on_epoch)


class Solver:
    """One training run, in the shape of CS231n's Solver: everything a run needs is set up
    once; then each epoch trains its steps (:meth:`train_epoch`), measures itself
    (:meth:`epoch_metrics`) and is checked for a stall (:meth:`stall_reason`), while the
    :class:`DivergenceGuard` watches every step."""

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        self.start = time.perf_counter()
        self.config, self.data = config, data
        init_rng, shuffle_rng, dropout_rng, sample_rng = (
            np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(4)
        )
        self.pre = Preprocessor.fit(config.preprocessing, data.X_train, data.image_shape)
        X_train, self.X_val = self.pre.transform(data.X_train), self.pre.transform(data.X_val)
        y_train, self.y_val = data.y_train, data.y_val
        self.model = MLP(X_train.shape[1], data.num_classes, config, init_rng,
                         dropout_rng=dropout_rng)
        self.opt_state = _optimizer_state(config)
        self.loop = MiniBatchLoop(self.model, UPDATE_RULES[config.optimizer], self.opt_state,
                                  X_train, y_train, config.batch_size, shuffle_rng)
        n_sample = min(config.train_acc_sample, X_train.shape[0])
        pick = np.sort(sample_rng.choice(X_train.shape[0], size=n_sample, replace=False))
        self.X_sample, self.y_sample = X_train[pick], y_train[pick]
        self.chance = (float(np.bincount(self.y_val, minlength=data.num_classes).max())
                       / len(self.y_val))
        self.before = np.empty_like(self.model.flat_params) if config.monitor else None
        self.guard = DivergenceGuard(config.loss_factor if config.early_abort else math.inf)
        self.history: list[dict[str, Any]] = []
        self.best: ModelState | None = None
        self.best_metrics: dict[str, Any] = {}
        self.last_loss: float | None = None
        self._outputs: list[Array] = []

    def run(self, on_epoch: OnEpoch | None) -> TrainResult:
        """Train epoch after epoch until the last, an abort, or ``on_epoch`` says stop."""
        state, reason = "completed", None
        for epoch in range(1, self.config.epochs + 1):
            outcome = self.train_epoch(epoch)
            if outcome.reason is not None:
                state, reason = "aborted", outcome.reason
                break
            metrics, layers = self.epoch_metrics(epoch, outcome)
            self.history.append(metrics)
            if self.best is None or metrics["val_accuracy"] > self.best_metrics["val_accuracy"]:
                self.best, self.best_metrics = self.model.state(), metrics
            if on_epoch is not None and on_epoch(epoch, metrics):
                state, reason = "pruned", f"stopped by the on_epoch callback after epoch {epoch}"
                break
            reason = self.stall_reason(epoch, outcome.mean_loss, metrics["val_accuracy"], layers)
            if reason is not None:
                state = "aborted"
                break
        return TrainResult(state, reason, self.final_metrics(), self.history)

    def train_epoch(self, epoch: int) -> EpochOutcome:
        """The epoch's steps at the learning rate its schedule gives."""
        config = self.config
        self.opt_state["learning_rate"] = learning_rate_at(
            config.learning_rate,
            config.lr_decay,
            epoch - 1,
            epochs=config.epochs,
            rate=config.lr_decay_rate,
            step_epochs=config.lr_step_epochs,
        )
        outcome = self.loop.run_epoch(epoch, self.guard, self.before)
        self.last_loss = _num(outcome.mean_loss)
        return outcome

    def epoch_metrics(
        self, epoch: int, outcome: EpochOutcome
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Accuracies, losses and (when monitored) the per-layer diagnostics of an epoch."""
        model, before = self.model, self.before
        outputs: list[Array] = []  # activations of the first STATS_SAMPLE examples
        # the last epoch's are let go only now, right before these take their memory: freed
        # before the steps, that memory goes back to the system, to be faulted in again
        self._outputs = outputs
        train_acc, _ = model.evaluate(
            self.X_sample, self.y_sample, STATS_SAMPLE,
            record=outputs if before is not None else None,
        )
        val_acc, val_loss = model.evaluate(self.X_val, self.y_val)
        layers = []
        if before is not None:
            layers = layer_report(self.config.activation, outputs, _update_ratios(model, before))
        metrics: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": self.last_loss,
            "train_accuracy": train_acc,
            "val_accuracy": val_acc,
            "val_loss": _num(val_loss),
            "learning_rate": self.opt_state["learning_rate"],
            "elapsed_s": time.perf_counter() - self.start,
            "diagnostics": {"layers": layers},
        }
        return metrics, layers

    def stall_reason(
        self, epoch: int, loss: float, val_acc: float, layers: list[dict[str, Any]]
    ) -> str | None:
        """Why the run stalled, with the layers' health notes; None while it learns."""
        initial = self.guard.initial or math.inf
        if not _stalled(self.config, epoch, loss, initial, val_acc, self.chance):
            return None
        if not layers:
            outputs: list[Array] = []
            self.model.evaluate(self.X_sample[:STATS_SAMPLE], self.y_sample[:STATS_SAMPLE],
                                record=outputs)
            layers = layer_report(self.config.activation, outputs, None)
        notes = "".join(f"; {note}" for note in health_notes(layers))
        return (
            f"stalled: loss {loss:.2f} vs initial {initial:.2f} after {epoch} "
            f"epochs, val accuracy {val_acc:.1%} at chance ({self.chance:.1%}){notes}"
        )

    def final_metrics(self) -> dict[str, Any]:
        """The run's result: the best epoch's val metrics and its test accuracy."""
        history, best_metrics, guard = self.history, self.best_metrics, self.guard
        result: dict[str, Any] = {
            "initial_loss": _num(guard.initial) if guard.initial is not None else None,
            "epochs_run": len(history),
            "train_loss": self.last_loss,
        }
        if history:
            result.update(
                train_accuracy=history[-1]["train_accuracy"],
                val_accuracy=best_metrics["val_accuracy"],
                val_loss=best_metrics["val_loss"],
                best_epoch=best_metrics["epoch"],
                final_val_accuracy=history[-1]["val_accuracy"],
            )
        data = self.data
        if self.best is not None and data.X_test is not None and data.y_test is not None:
            self.model.load_state(self.best)
            test_acc, _ = self.model.evaluate(self.pre.transform(data.X_test), data.y_test)
            result["test_accuracy"] = test_acc
        result["elapsed_s"] = time.perf_counter() - self.start
        return result


def _stalled(
    config: TrainConfig, epoch: int, loss: float, initial: float, val_acc: float, chance: float
) -> bool:
    """After ``stall_epochs`` epochs: the loss is not clearly below the initial loss and the
    val accuracy is still near chance."""
    if not config.early_abort or not config.stall_epochs or epoch < config.stall_epochs:
        return False
    return loss >= (1 - STALL_LOSS_DROP) * initial and val_acc <= chance + STALL_CHANCE_MARGIN
