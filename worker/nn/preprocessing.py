"""Input preprocessing fitted on the training split only, then applied to every split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Preprocessor:
    """``transform(X) = (X - shift) * scale`` with per-feature vectors learned by ``fit``."""

    kind: str
    shift: Array
    scale: Array | None

    @classmethod
    def fit(cls, kind: str, X: Array, image_shape: tuple[int, ...] | None = None) -> Preprocessor:
        """Learn the statistics of ``kind`` from training data X of shape (N, D).

        none: identity; mean_image: subtract the mean example; per_channel_mean: subtract
        one mean per channel (``image_shape`` is (C, H, W), channels first; data without an
        image shape is one channel); standardize: zero mean and unit std per feature
        (constant features are only centred).
        """
        d = X.shape[1]
        if kind == "none":
            return cls(kind, np.zeros(d, np.float32), None)
        mean = X.mean(axis=0, dtype=np.float64)
        if kind == "mean_image":
            return cls(kind, mean.astype(np.float32), None)
        if kind == "per_channel_mean":
            channels = image_shape[0] if image_shape else 1
            per_channel = mean.reshape(channels, -1).mean(axis=1)
            return cls(kind, np.repeat(per_channel, d // channels).astype(np.float32), None)
        if kind == "standardize":
            std = _column_std(X, mean)
            scale = np.where(std > 1e-8, 1.0 / np.maximum(std, 1e-8), 1.0)
            return cls(kind, mean.astype(np.float32), scale.astype(np.float32))
        raise ValueError(
            f"unknown preprocessing {kind!r}; allowed: none, mean_image, per_channel_mean, "
            "standardize"
        )

    def transform(self, X: Array) -> Array:
        """Return a new float32 array; X itself is left untouched."""
        out = np.subtract(X, self.shift, dtype=np.float32)
        if self.scale is not None:
            out *= self.scale
        return out


def _column_std(X: Array, mean: Array, chunk: int = 4096) -> Array:
    """Per-column std in float64, a chunk of rows at a time (no full float64 copy of X)."""
    sq = np.zeros(X.shape[1], np.float64)
    for start in range(0, X.shape[0], chunk):
        centred = X[start : start + chunk] - mean
        sq += np.einsum("ij,ij->j", centred, centred)
    return np.sqrt(sq / X.shape[0])
