"""How values read in a terminal: the one formatter the CLI, the quickstart and the worker
share."""

from __future__ import annotations

import math
from typing import Any


def fmt(value: Any) -> str:
    """Compact human form of a metric or parameter value."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return str(value)
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            return f"{value:.3g}"
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    return str(value)
