"""How much each parameter explains the objective: permutation importance on a random forest.

A forest is fitted on three quarters of the trials (log parameters in log10, choices as
codes, booleans as 0/1) and each parameter's column is shuffled in the held-out quarter;
the drop in R^2 is that parameter's importance, normalised to sum to 1. Below
``MIN_TRIALS`` trials, or when the forest explains nothing held-out, no figure is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import permutation_importance
from sklearn.model_selection import train_test_split

METHOD = ("permutation importance on a random forest (scikit-learn): the drop in held-out "
          "R² when a parameter's values are shuffled, normalised to sum to 1")
MIN_TRIALS = 16
MAX_TRIALS = 2_000  # a seeded sample beyond this keeps the fit near a second
SEED = 0


@dataclass(frozen=True)
class Importance:
    """Per-parameter shares (None when there is too little to say) and why not."""

    trials: int
    importances: dict[str, float] | None
    r2: float | None
    note: str | None


def encode(values: list[Any], kind: str, log: bool) -> np.ndarray:
    """One parameter's values as floats: log10 for log scales, codes for choices."""
    if kind == "choice":
        codes: dict[str, int] = {}
        return np.array([codes.setdefault(repr(v), len(codes)) for v in values], dtype=float)
    out = np.array([float(v) if isinstance(v, int | float) else math.nan for v in values])
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(out > 0, np.log10(out), math.nan)
    return out


def importance(columns: dict[str, np.ndarray], objective: np.ndarray) -> Importance:
    """Importance of each column (already encoded, NaN where missing) for ``objective``."""
    keep = np.isfinite(objective)
    for col in columns.values():
        keep &= np.isfinite(col)
    n = int(keep.sum())
    varying = {k: c[keep] for k, c in columns.items() if np.unique(c[keep]).size > 1}
    if n < MIN_TRIALS:
        return Importance(n, None, None,
                          f"{n} finished trials with an objective; at least {MIN_TRIALS} are "
                          "needed to say which parameter matters")
    if not varying:
        return Importance(n, None, None, "no parameter varies across these trials")
    y = objective[keep]
    x = np.column_stack(list(varying.values()))
    if n > MAX_TRIALS:
        pick = np.random.default_rng(SEED).choice(n, MAX_TRIALS, replace=False)
        x, y = x[pick], y[pick]
    x_fit, x_held, y_fit, y_held = train_test_split(x, y, test_size=0.25, random_state=SEED)
    forest = RandomForestRegressor(n_estimators=32, min_samples_leaf=2, max_features=None,
                                   n_jobs=1, random_state=SEED).fit(x_fit, y_fit)
    r2 = float(forest.score(x_held, y_held))
    if not r2 > 0:
        return Importance(n, None, r2, f"the forest explains none of the held-out objective "
                          f"(R² {r2:.2f}): no parameter stands out, or there are too few trials")
    drops = permutation_importance(forest, x_held, y_held, n_repeats=3,
                                   random_state=SEED).importances_mean
    drops = np.clip(drops, 0.0, None)
    total = float(drops.sum())
    shares = drops / total if total > 0 else np.zeros_like(drops)
    result = {name: float(s) for name, s in zip(varying, shares, strict=True)}
    result.update({name: 0.0 for name in columns if name not in varying})
    note = f"fitted on a sample of {MAX_TRIALS} of {n} trials" if n > MAX_TRIALS else None
    return Importance(n, dict(sorted(result.items(), key=lambda kv: -kv[1])), r2, note)
