"""The leaderboard table built from the API's answer, and printed at 120 columns."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from app.cli import output
from app.cli.boards import leaderboard_table

PARAMS = {"learning_rate": 0.00123, "reg": 1.2e-5, "hidden_size": 128, "dropout": 0.25,
          "activation": "leaky_relu", "batch_size": 64}
EXAMPLE_PARAMS = {"learning_rate": 0.00123, "reg": 1.2e-5}


def row(rank: int, study: str, metric: str, direction: str, **extra: Any) -> dict[str, Any]:
    return {"rank": rank, "trial_id": 100 + rank, "study_id": rank, "study": study,
            "number": rank, "stage": 1, "state": "completed", "objective": 0.9712,
            "metric": metric, "direction": direction, "params": PARAMS,
            "metrics": {"val_accuracy": 0.97, "test_accuracy": 0.96, "diagnostics": {}},
            "epochs_run": 12, **extra}


def page(rows: list[dict[str, Any]], metric: str | None = None) -> dict[str, Any]:
    return {"total": 40, "limit": 20, "offset": 0, "metric": metric,
            "direction": "maximize" if metric else None, "rows": rows}


def printed(headers: list[str], rows: list[list[Any]], width: int,
            monkeypatch: pytest.MonkeyPatch) -> str:
    out = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=out, width=width))
    output.table(headers, rows)
    return out.getvalue()


def pieces(header: str) -> set[str]:
    """The ways a header may show on one line: whole, or cut only after underscores."""
    parts = header.replace("_", "_\n").split("\n")
    return {"".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)}


@pytest.mark.parametrize(("across", "params"), [(False, PARAMS), (True, EXAMPLE_PARAMS)])
def test_headers_never_break_inside_a_word_at_120_columns(monkeypatch, across, params):
    data = page([row(1, "digits-coarse-to-fine", "val_accuracy", "maximize", params=params)],
                None if across else "val_accuracy")
    board = leaderboard_table(data, across=across)
    text = printed(board.headers, board.rows, 120, monkeypatch)
    head = text.split("─")[0].split()
    allowed = set().union(*map(pieces, board.headers))
    assert head and all(word in allowed for word in head), head
    assert all(len(line) <= 120 for line in text.splitlines())
    assert "epochs" in head  # nothing cut at the right edge


def test_across_studies_each_row_names_its_study_and_metric():
    data = page([row(1, "digits", "val_accuracy", "maximize"),
                 row(2, "spiral", "val_loss", "minimize")])
    board = leaderboard_table(data, across=True)
    assert board.headers[:6] == ["#", "trial", "study", "metric", "stage", "state"]
    assert [r[2:4] for r in board.rows] == [["digits", "max val_accuracy"],
                                            ["spiral", "min val_loss"]]
    assert board.title.startswith("Leaderboard across studies: 40 ranked trials")


def test_one_study_names_the_objective_after_its_metric():
    board = leaderboard_table(page([row(1, "digits", "val_accuracy", "maximize")],
                                   "val_accuracy"), across=False)
    assert board.headers[:5] == ["#", "trial", "stage", "state", "val_accuracy"]
    assert "val_acc" not in board.headers and "test_acc" in board.headers
    assert board.title == "Leaderboard: 40 ranked trials, maximize val_accuracy"


def test_every_column_keeps_stable_names_and_scalar_metrics():
    board = leaderboard_table(page([row(1, "digits", "val_accuracy", "maximize")]),
                              across=True, every_column=True)
    assert board.headers == ["rank", "trial", "study", "stage", "state", "objective",
                             *sorted(PARAMS), "test_accuracy", "val_accuracy", "epochs"]
    assert board.rows[0][:6] == [1, 101, 1, 1, "completed", 0.9712]
