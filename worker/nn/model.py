"""Fully connected network built from a TrainConfig.

Architecture: ``[affine - (batchnorm) - activation - (dropout)] x L - affine - softmax``.
All parameters live in one flat array (weights first, then biases, BN and PReLU
parameters) and ``params``/``grads`` hold named views into it, so an optimizer updates
everything in one call and L2 regularization is one dot product. Forward/backward
buffers are allocated once per batch size and reused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from worker.nn import activations as act
from worker.nn.batchnorm import BatchNormState, batchnorm_backward, batchnorm_forward
from worker.nn.config import TrainConfig
from worker.nn.init import init_std, init_weights
from worker.nn.layers import (
    affine_backward,
    affine_forward,
    dropout_backward,
    dropout_forward,
    dropout_mask,
)
from worker.nn.losses import l2_grad, l2_penalty, softmax_data_loss, softmax_loss

Array = np.ndarray
PRELU_INIT = 0.25  # He et al. 2015
Specs = list[tuple[str, tuple[int, ...]]]  # parameter names and shapes, in layout order
CLASSIFIER_GAIN = 0.1  # last layer small, so the initial softmax is near uniform (loss ~ ln C)


@dataclass
class _Hidden:
    """One hidden layer: sizes, views of its parameters and gradients, BN state, buffers."""

    index: int
    units: int
    width: int  # affine outputs: units * maxout_k for maxout, else units
    bn: BatchNormState | None
    p: dict[str, Array] = field(default_factory=dict)  # "W", "b", "gamma", "beta", "alpha"
    g: dict[str, Array] = field(default_factory=dict)
    buffers: dict[int, dict[str, Array]] = field(default_factory=dict)


@dataclass
class ModelState:
    """A copy of everything that defines the model's predictions (for the best epoch)."""

    flat: Array
    running: list[tuple[Array, Array]]


class MLP:
    """Fully connected classifier with hand-written backward passes.

    ``loss(X)`` returns test-mode scores; ``loss(X, y)`` runs a training-mode forward and
    backward pass and returns ``(loss, grads)``. The returned ``grads`` are views into
    ``flat_grads``, overwritten by the next call.
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        config: TrainConfig,
        rng: np.random.Generator,
        *,
        dtype: type = np.float32,
        dropout_rng: np.random.Generator | None = None,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.reg = config.reg
        self.activation = config.activation
        self.dropout = config.dropout
        self.dropout_rng = dropout_rng if dropout_rng is not None else rng
        self.num_classes = num_classes
        self.num_layers = len(config.hidden_sizes) + 1
        self._set_activation(config)
        weight_specs, other_specs = self._layout(input_dim, config)
        self._allocate(weight_specs, other_specs, config.reg)
        self._init(config, rng)
        self._bind_views()
        self._out_buffers: dict[int, Array] = {}

    def _set_activation(self, config: TrainConfig) -> None:
        """The activation's functions and fixed arguments (prelu and maxout have their own
        paths: a learned slope, k pieces per unit)."""
        self._k = config.maxout_k if config.activation == "maxout" else 1
        simple: tuple[Callable[..., tuple[Array, Any]] | None, Callable[..., Array] | None]
        simple = act.SIMPLE.get(config.activation, (None, None))
        self._act_forward, self._act_backward = simple
        self._act_kwargs: dict[str, float] = {}
        if config.activation == "leaky_relu":
            self._act_kwargs = {"slope": config.leaky_slope}
        elif config.activation == "elu":
            self._act_kwargs = {"alpha": config.elu_alpha}

    def _layout(self, input_dim: int, config: TrainConfig) -> tuple[Specs, Specs]:
        """The hidden layers, and the names and shapes of the weights and of the other
        parameters (biases, batchnorm's gamma and beta, prelu's slopes)."""
        dims = [input_dim, *config.hidden_sizes, self.num_classes]
        weight_specs: Specs = []
        other_specs: Specs = []
        self._hidden: list[_Hidden] = []
        for i, units in enumerate(config.hidden_sizes, start=1):
            width = units * self._k
            weight_specs.append((f"W{i}", (dims[i - 1], width)))
            if config.batchnorm:  # the bias is redundant before batchnorm
                other_specs += [(f"gamma{i}", (width,)), (f"beta{i}", (width,))]
            else:
                other_specs.append((f"b{i}", (width,)))
            if config.activation == "prelu":
                other_specs.append((f"alpha{i}", (units,)))
            bn = (
                BatchNormState.zeros(width, self.dtype.type, config.bn_momentum)
                if config.batchnorm
                else None
            )
            self._hidden.append(_Hidden(i, units, width, bn))
        weight_specs.append((f"W{self.num_layers}", (dims[-2], self.num_classes)))
        other_specs.append((f"b{self.num_layers}", (self.num_classes,)))
        return weight_specs, other_specs

    def _allocate(self, weight_specs: Specs, other_specs: Specs, reg: float) -> None:
        """One flat array for the parameters and one for the gradients (weights first, so
        the L2 terms run over one contiguous slice), with named views into both."""
        self.weight_names = [name for name, _ in weight_specs]
        specs = weight_specs + other_specs
        total = sum(int(np.prod(shape)) for _, shape in specs)
        self.flat_params = np.zeros(total, self.dtype)
        self.flat_grads = np.zeros(total, self.dtype)
        self._specs = specs
        self.params = self.views(self.flat_params)
        self.grads = self.views(self.flat_grads)
        n_weights = sum(int(np.prod(shape)) for _, shape in weight_specs)
        self._weights = self.flat_params[:n_weights]
        self._weight_grads = self.flat_grads[:n_weights]
        self._scratch = np.empty(n_weights, self.dtype) if reg > 0 else None

    def _bind_views(self) -> None:
        """Each hidden layer's parameters and gradients by their short names."""
        for layer in self._hidden:
            for key in ("W", "b", "gamma", "beta", "alpha"):
                name = f"{key}{layer.index}"
                if name in self.params:
                    layer.p[key], layer.g[key] = self.params[name], self.grads[name]
        out = self.num_layers
        self._W_out, self._b_out = self.params[f"W{out}"], self.params[f"b{out}"]
        self._dW_out, self._db_out = self.grads[f"W{out}"], self.grads[f"b{out}"]

    def _init(self, config: TrainConfig, rng: np.random.Generator) -> None:
        """Hidden weights from the chosen scheme. Under xavier/he the classifier layer gets
        ``CLASSIFIER_GAIN / sqrt(fan_in)``: no ReLU follows the scores (so no factor 2), and a
        small last layer starts the softmax near uniform, the initial loss near ln(C)."""
        for number, name in enumerate(self.weight_names, start=1):
            w = self.params[name]
            init_weights(config.init, w.shape[0], w.shape[1], rng, std=config.init_std, out=w)
            if number == self.num_layers and config.init != "small":
                fan_in = w.shape[0]
                w *= CLASSIFIER_GAIN / math.sqrt(fan_in) / init_std(config.init, fan_in)
        for name, p in self.params.items():
            if name.startswith("gamma"):
                p.fill(1.0)
            elif name.startswith("alpha"):
                p.fill(PRELU_INIT)

    def views(self, flat: Array) -> dict[str, Array]:
        """Named views into any flat array laid out like ``flat_params``."""
        out: dict[str, Array] = {}
        offset = 0
        for name, shape in self._specs:
            size = int(np.prod(shape))
            out[name] = flat[offset : offset + size].reshape(shape)
            offset += size
        return out

    # -- buffers --------------------------------------------------------------------------

    def _layer_buffers(self, layer: _Hidden, n: int) -> dict[str, Array]:
        bufs = layer.buffers.get(n)
        if bufs is None:
            e = np.empty
            dt = self.dtype
            bufs = {
                "a": e((n, layer.width), dt),
                "h": e((n, layer.units), dt),
                "dh": e((n, layer.units), dt),
            }
            if layer.bn is not None:
                bufs["z"] = e((n, layer.width), dt)
                bufs["xhat"] = e((n, layer.width), dt)
            if self._k > 1:
                bufs["dz"] = e((n, layer.width), dt)
            if self.dropout > 0:
                bufs["mask"] = e((n, layer.units), dt)
                bufs["hd"] = e((n, layer.units), dt)
            layer.buffers[n] = bufs
        return bufs

    def _scores_buffer(self, n: int) -> Array:
        buf = self._out_buffers.get(n)
        if buf is None:
            buf = self._out_buffers[n] = np.empty((n, self.num_classes), self.dtype)
        return buf

    # -- forward / backward ---------------------------------------------------------------

    def forward(
        self, X: Array, *, train: bool, record: list[Array] | None = None
    ) -> tuple[Array, list[Any]]:
        """Return (scores, caches); ``record`` collects each hidden layer's activation output.

        Outputs live in reused buffers: use them before the next forward pass.
        """
        x = X = np.asarray(X, dtype=self.dtype)
        n = X.shape[0]
        caches: list[Any] = []
        dropout = self.dropout if train else 0.0
        for layer in self._hidden:
            bufs = layer.buffers.get(n) or self._layer_buffers(layer, n)
            p = layer.p
            a, aff_cache = affine_forward(x, p["W"], p.get("b"), out=bufs["a"])
            bn_cache = None
            if layer.bn is not None:
                a, bn_cache = batchnorm_forward(
                    a,
                    p["gamma"],
                    p["beta"],
                    layer.bn,
                    train=train,
                    out=bufs["z"],
                    xhat=bufs["xhat"],
                )
            h, act_cache = self._activate(a, layer, bufs["h"])
            if record is not None:
                record.append(h)
            mask = None
            if dropout > 0:
                mask = dropout_mask(
                    h.shape, dropout, self.dropout_rng, self.dtype.type, out=bufs["mask"]
                )
                h, _ = dropout_forward(h, dropout, mask=mask, out=bufs["hd"])
            caches.append((aff_cache, bn_cache, act_cache, mask))
            x = h
        scores, out_cache = affine_forward(x, self._W_out, self._b_out, out=self._scores_buffer(n))
        caches.append(out_cache)
        return scores, caches

    def _activate(self, a: Array, layer: _Hidden, out: Array) -> tuple[Array, Any]:
        if self.activation == "prelu":
            return act.prelu_forward(a, layer.p["alpha"], out=out)
        if self.activation == "maxout":
            return act.maxout_forward(a, self._k, out=out)
        assert self._act_forward is not None  # set for every activation but the two above
        return self._act_forward(a, out=out, **self._act_kwargs)

    def _activation_backward(self, dh: Array, cache: Any, layer: _Hidden, n: int) -> Array:
        if self.activation == "prelu":
            dz, layer.g["alpha"][...] = act.prelu_backward(dh, cache, out=dh)
            return dz
        if self.activation == "maxout":
            return act.maxout_backward(dh, cache, out=layer.buffers[n]["dz"])
        assert self._act_backward is not None
        return self._act_backward(dh, cache, out=dh)

    @overload
    def loss(self, X: Array, y: None = None) -> Array: ...

    @overload
    def loss(self, X: Array, y: Array) -> tuple[float, dict[str, Array]]: ...

    def loss(self, X: Array, y: Array | None = None) -> Array | tuple[float, dict[str, Array]]:
        """Test-mode scores when y is None, else training-mode ``(loss, grads)`` with L2 reg."""
        if y is None:
            return self.forward(X, train=False)[0]
        scores, caches = self.forward(X, train=True)
        n = scores.shape[0]
        loss, dscores = softmax_loss(scores, y, out=scores)
        hidden = self._hidden
        dx, _, _ = affine_backward(
            dscores,
            caches[-1],
            need_dx=bool(hidden),
            dx=hidden[-1].buffers[n]["dh"] if hidden else None,
            dw=self._dW_out,
            db=self._db_out,
        )
        for pos in range(len(hidden) - 1, -1, -1):
            layer = hidden[pos]
            aff_cache, bn_cache, act_cache, mask = caches[pos]
            g = layer.g
            assert dx is not None  # every hidden layer gets the gradient of its output
            if mask is not None:
                dropout_backward(dx, mask, out=dx)
            dz = self._activation_backward(dx, act_cache, layer, n)
            if bn_cache is not None:
                dz, g["gamma"][...], g["beta"][...] = batchnorm_backward(dz, bn_cache, out=dz)
            dx, _, _ = affine_backward(
                dz,
                aff_cache,
                need_dx=pos > 0,
                dx=hidden[pos - 1].buffers[n]["dh"] if pos else None,
                dw=g["W"],
                db=g.get("b"),
            )
        if self.reg > 0:
            loss += l2_penalty(self._weights, self.reg)
            l2_grad(self._weights, self.reg, self._weight_grads, self._scratch)
        return loss, self.grads

    # -- evaluation -----------------------------------------------------------------------

    def evaluate(
        self, X: Array, y: Array, batch_size: int = 1024, record: list[Array] | None = None
    ) -> tuple[float, float]:
        """Test-mode (accuracy, mean data loss without reg) over X in chunks. ``record``
        receives copies of the first chunk's hidden activations and then its scores."""
        correct = 0
        total_loss = 0.0
        for start in range(0, X.shape[0], batch_size):
            outputs: list[Array] | None = [] if record is not None and start == 0 else None
            scores, _ = self.forward(X[start : start + batch_size], train=False, record=outputs)
            if record is not None and outputs is not None:
                record.extend(h.copy() for h in outputs)
                record.append(scores.copy())
            yb = y[start : start + batch_size]
            correct += int(np.count_nonzero(scores.argmax(axis=1) == yb))
            total_loss += softmax_data_loss(scores, yb)
        n = max(X.shape[0], 1)
        return correct / n, total_loss / n

    def state(self) -> ModelState:
        """Copy of the parameters and batchnorm running averages."""
        running = [
            (h.bn.running_mean.copy(), h.bn.running_var.copy())
            for h in self._hidden
            if h.bn is not None
        ]
        return ModelState(self.flat_params.copy(), running)

    def load_state(self, state: ModelState) -> None:
        """Restore a copy made by ``state()``."""
        self.flat_params[...] = state.flat
        bns = [h.bn for h in self._hidden if h.bn is not None]
        for bn, (mean, var) in zip(bns, state.running, strict=True):
            bn.running_mean[...] = mean
            bn.running_var[...] = var
