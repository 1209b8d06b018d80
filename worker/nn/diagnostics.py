"""Babysitting statistics: activation health per layer and update/parameter ratios."""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray
SATURATION = 0.99  # |tanh| above this, or sigmoid within 0.01 of 0 or 1, counts as saturated
DEAD_WARN = 0.5
SATURATION_WARN = 0.5
COLLAPSE_STD = 1e-4


def activation_stats(h: Array, activation: str | None) -> dict[str, float]:
    """Mean/std of a layer's outputs (N, M), the fraction of dead units (zero on every
    example) and, for tanh/sigmoid, the fraction of saturated values."""
    h64 = h.astype(np.float64, copy=False)
    dead = float(np.mean(~np.any(h != 0, axis=0))) if h.shape[0] else 0.0
    if activation == "tanh":
        saturated = float(np.mean(np.abs(h) > SATURATION))
    elif activation == "sigmoid":
        saturated = float(np.mean(np.abs(2 * h - 1) > 2 * SATURATION - 1))
    else:
        saturated = 0.0
    return {
        "act_mean": float(h64.mean()),
        "act_std": float(h64.std()),
        "dead_fraction": dead,
        "saturation_fraction": saturated,
    }


def update_ratio(before: Array, after: Array) -> float:
    """``||after - before|| / ||before||`` (the lecture wants about 1e-3)."""
    scale = float(np.linalg.norm(before))
    step = float(np.linalg.norm(after - before))
    return step / scale if scale > 0 else float("inf") if step > 0 else 0.0


def layer_report(
    activation: str, outputs: list[Array], ratios: list[float] | None
) -> list[dict[str, Any]]:
    """One entry per layer (hidden layers, then the scores layer), numbered from 1."""
    layers = []
    for number, h in enumerate(outputs, start=1):
        is_scores = number == len(outputs)
        entry: dict[str, Any] = {"layer": number}
        if ratios is not None:
            entry["update_ratio"] = ratios[number - 1]
        entry.update(activation_stats(h, None if is_scores else activation))
        layers.append(entry)
    return layers


def health_notes(layers: list[dict[str, Any]]) -> list[str]:
    """Short words about unhealthy hidden layers, e.g. 'dead units 100% in layer 2'."""
    notes = []
    collapsed = []
    for entry in layers[:-1]:
        n = entry["layer"]
        if entry["dead_fraction"] >= DEAD_WARN:
            notes.append(f"dead units {entry['dead_fraction']:.0%} in layer {n}")
        if entry["saturation_fraction"] >= SATURATION_WARN:
            notes.append(f"saturated {entry['saturation_fraction']:.0%} in layer {n}")
        small = entry["act_std"] < COLLAPSE_STD and abs(entry["act_mean"]) < COLLAPSE_STD
        if small and entry["dead_fraction"] < 1:
            collapsed.append(str(n))
    if collapsed:
        many = "s" if len(collapsed) > 1 else ""
        notes.append(
            f"activations collapsed (std < {COLLAPSE_STD:g}) in layer{many} {', '.join(collapsed)}"
        )
    return notes
