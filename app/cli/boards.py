"""The leaderboard as a table: title, headers and rows built from the API's answer.

Pure (no I/O): ``hpsearch leaderboard`` and the quickstart print what it builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SHORT_METRICS = {"val_accuracy": "val_acc", "test_accuracy": "test_acc"}
DIRECTION = {"maximize": "max", "minimize": "min"}


@dataclass(frozen=True)
class Board:
    title: str
    headers: list[str]
    rows: list[list[Any]]


def leaderboard_table(data: dict[str, Any], *, across: bool, every_column: bool = False) -> Board:
    """The table of a leaderboard page (the API's ``Leaderboard``).

    ``across``: rows from several studies, each ranked by its own objective, so each row
    names its study and its metric. ``every_column``: every param and scalar metric under
    its stable name (for CSV); otherwise the columns a terminal has room for.
    """
    rows = data["rows"]
    params = sorted({k for r in rows for k in r["params"]})
    if every_column:
        metrics = sorted({k for r in rows for k, v in r["metrics"].items()
                          if not isinstance(v, dict | list)})
        names = metrics
        lead = ["rank", "trial", "study", "stage", "state", "objective"]
    else:
        objective = "objective" if across else data.get("metric") or "objective"
        metrics = [m for m in SHORT_METRICS
                   if m != objective and any(m in r["metrics"] for r in rows)]
        names = [SHORT_METRICS[m] for m in metrics]
        lead = ["#", "trial", *(["study", "metric"] if across else []), "stage", "state",
                objective]
    confirm = any(r.get("confirmed") or r.get("candidate") is not None for r in rows)
    headers = [*lead, *params, *names, "epochs", *(_confirm_headers(every_column) if confirm
                                                   else [])]
    table = [[*_lead(r, across, every_column), *(r["params"].get(p) for p in params),
              *(r["metrics"].get(m) for m in metrics), r["epochs_run"],
              *(_confirm_cells(r, every_column) if confirm else [])] for r in rows]
    return Board(_title(data, across), headers, table)


def _confirm_headers(every_column: bool) -> list[str]:
    if every_column:
        return ["candidate", "confirm_runs", "confirm_mean", "confirm_std", "confirm_min",
                "confirm_max", "pick"]
    return ["confirmed (mean ± std, runs)", "pick"]


def _confirm_cells(row: dict[str, Any], every_column: bool) -> list[Any]:
    """A confirmed candidate's mean and spread over its runs, whether it is the pick and
    why; for a confirmation run, the candidate it repeats."""
    c = row.get("confirmed")
    if every_column:
        stats = [c[k] for k in ("runs", "mean", "std", "min", "max")] if c else [None] * 5
        return [row.get("candidate"), *stats, row.get("pick")]
    if c is None:
        repeat = row.get("candidate")
        return [f"run of trial {repeat}" if repeat is not None else None, None]
    return [_mean_spread(c), f"pick: {row['pick']}" if row.get("pick") else None]


def _mean_spread(c: dict[str, Any]) -> str | None:
    if c["mean"] is None:
        return f"no finished run ({c['unfinished']} did not finish)"
    text = f"{c['mean']:.4g}"
    if c["std"] is not None:
        text += f" ± {c['std']:.2g}"
    text += f" ({c['runs']} run{'s' if c['runs'] != 1 else ''}"
    if c["unfinished"]:
        text += f", {c['unfinished']} failed"
    if c["pending"]:
        text += f", {c['pending']} to go"
    return text + ")"


def _lead(row: dict[str, Any], across: bool, every_column: bool) -> list[Any]:
    if every_column:
        return [row["rank"], row["trial_id"], row["study_id"], row["stage"], row["state"],
                row["objective"]]
    which = [row["study"], f"{DIRECTION.get(row['direction'], row['direction'])} {row['metric']}"]
    return [row["rank"], row["trial_id"], *(which if across else []), row["stage"],
            row["state"], row["objective"]]


def _title(data: dict[str, Any], across: bool) -> str:
    rows = data["rows"]
    title = f"Leaderboard{' across studies' if across else ''}: {data['total']} ranked trials"
    if data["offset"] and rows:
        title += f" (ranks {rows[0]['rank']}-{rows[-1]['rank']})"
    if data.get("metric"):
        title += f", {data['direction']} {data['metric']}"
    picked = [r for r in rows if r.get("pick")]
    if picked and not across:
        title += f"; pick: trial {picked[0]['trial_id']} ({picked[0]['pick']})"
    return title
