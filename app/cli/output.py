"""Terminal output for the CLI: rich tables, notes, formats, and the API client."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.csvsafe import spreadsheet_safe
from hpsearch.formatting import fmt
from hpsearch.http import ApiClient

# Piped output is read by tools or later by people: do not fold it at 80 columns.
PIPED_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
console = Console(width=PIPED_WIDTH)
err_console = Console(stderr=True)
SPARKS = "▁▂▃▄▅▆▇█"
TEXT_MIN_WIDTH = 24  # a text column narrows to its longest word, down to this at most


RETRY_SECONDS = 5.0  # a person is waiting


def client(args: argparse.Namespace) -> ApiClient:
    """A client with a short retry budget."""
    return ApiClient(args.server, args.token, retry_seconds=RETRY_SECONDS)


def note(message: str) -> None:
    err_console.print(message, style="dim", highlight=False)


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None
) -> None:
    """A rich table; number columns are never cut, text columns give way on narrow screens,
    and a header breaks only after an underscore, never inside a word."""
    cells = [[escape(fmt(v)) for v in row] for row in rows]
    widths = [max((len(c[i]) for c in cells), default=0) for i in range(len(headers))]
    words = [max((len(w) for c in cells for w in c[i].split()), default=0)
             for i in range(len(headers))]
    natural = sum(max(len(h), w) for h, w in zip(headers, widths, strict=True))
    split = natural + 2 * len(headers) > console.width
    t = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD,
              pad_edge=False, show_edge=False, collapse_padding=True)
    for i, h in enumerate(headers):
        lines = h.replace("_", "_\n").split("\n") if split else [h]
        is_number = all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        least = widths[i] if is_number else min(words[i], TEXT_MIN_WIDTH)
        t.add_column("\n".join(lines), justify="right" if is_number else "left",
                     overflow="fold", min_width=max(least, *map(len, lines)))
    for row in cells:
        t.add_row(*row)
    console.print(t)


def emit(fmt_name: str, headers: Sequence[str], rows: Sequence[Sequence[Any]],
         records: list[dict[str, Any]], *, title: str | None = None) -> None:
    """Print rows as a rich table, CSV, or the JSON records."""
    if fmt_name == "json":
        json.dump(records, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif fmt_name == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow([spreadsheet_safe(h) for h in headers])
        writer.writerows([spreadsheet_safe(c) for c in row] for row in rows)
    else:
        table(headers, rows, title=title)


def stage_size(stage: dict[str, Any]) -> str:
    """How big a stage is: its trials and epochs, or its budget of epochs and its spend."""
    if stage.get("budget") is None:
        return f"{stage['trials']} trials x {stage['epochs']} epochs"
    return (f"budget {stage['epochs_spent']}/{stage['budget']} epochs, {stage['trials']} "
            f"trials of up to {stage['epochs']}")


def sparkline(values: Sequence[float | None]) -> str:
    """A one-line chart of a curve; gaps for missing or non-finite points."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    out = []
    for v in values:
        if isinstance(v, int | float) and math.isfinite(v):
            out.append(SPARKS[min(int((v - lo) / span * (len(SPARKS) - 1)), len(SPARKS) - 1)])
        else:
            out.append(" ")
    return "".join(out)
