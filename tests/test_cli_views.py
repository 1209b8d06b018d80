"""The CLI's read views against a real server: leaderboard (table/json/csv, --top, --stage),
``study show``, ``trial show`` (sparklines, reasons) and ``study export``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.cli.main import EXIT_UNREACHABLE, main
from tests.conftest import BACKENDS, ServerProcess, custom_spec, free_port, make_database

pytestmark = pytest.mark.slow  # the views read from a server process

# lr values of stage 0 and the val_accuracy each trial ends with: the best sits at the
# upper edge of [1e-5, 1e-1], so finishing the stage records an edge warning
STAGE0 = [(0.08, 0.91), (0.05, 0.88), (1e-3, 0.62), (1e-4, 0.40), (2e-5, 0.21)]
MARKUP_REASON = "loss nan at step 3 [/] [red]not a style[/red]"


@dataclass
class Filled:
    url: str
    study: int
    best_trial: int
    aborted_trial: int


def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in this process; returns (exit code, stdout, stderr)."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def finish(http: httpx.Client, study: int, metrics: list[dict[str, Any]], final: dict[str, Any],
           state: str = "completed", reason: str | None = None) -> tuple[int, dict[str, Any]]:
    task = http.post("/api/v1/trials/claim", json={"worker": "cli", "studies": [study]}).json()
    for step, m in enumerate(metrics, start=1):
        http.post(f"/api/v1/trials/{task['id']}/report",
                  json={"lease_token": task["lease_token"], "step": step, "metrics": m})
    r = http.post(f"/api/v1/trials/{task['id']}/finish",
                  json={"lease_token": task["lease_token"], "state": state, "metrics": final,
                        "reason": reason})
    assert r.status_code == 200, r.text
    return task["id"], task["params"]


@pytest.fixture(scope="module", params=BACKENDS)
def filled(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    """A server with one two-stage study: stage 0 finished (an edge warning, one aborted
    trial with markup-like text in its reason), stage 1 queued."""
    databases = make_database(request.param, tmp_path_factory.mktemp("cli-views"))
    server = ServerProcess(next(databases)).start()
    try:
        http = httpx.Client(base_url=server.url, timeout=30)
        spec = custom_spec(trials=1, epochs=3, stages=[{"trials": 1, "epochs": 3},
                                                        {"trials": 4, "epochs": 5}])
        study = http.post("/api/v1/studies", json=spec).json()["id"]
        http.post(f"/api/v1/studies/{study}/trials", json={"trials": [
            {"params": {"x": 0.5, "lr": lr}} for lr, _ in STAGE0]})
        aborted, _ = finish(http, study, [{"train_loss": 2.3}, {"train_loss": 9.7}],
                            {"train_loss": "nan"}, state="aborted", reason=MARKUP_REASON)
        best = None
        for i, (lr, acc) in enumerate(STAGE0):
            curve = [{"train_loss": 2.3 - k * acc, "train_accuracy": acc * k / 3,
                      "val_accuracy": acc * k / 3, "learning_rate": lr} for k in (1, 2, 3)]
            trial_id, params = finish(http, study, curve, {"val_accuracy": acc,
                                                            "train_loss": 2.3 - 3 * acc})
            assert params["lr"] == lr
            if i == 0:
                best = trial_id
        assert best is not None
        yield Filled(server.url, study, best, aborted)
        http.close()
    finally:
        server.stop()
        databases.close()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_leaderboard_json_matches_the_api(filled, capsys):
    code, out, _ = run("leaderboard", str(filled.study), "--format", "json",
                       "--server", filled.url, capsys=capsys)
    assert code == 0
    rows = json.loads(out)
    api = httpx.get(f"{filled.url}/api/v1/studies/{filled.study}/leaderboard").json()["rows"]
    assert rows == api
    assert rows[0]["trial_id"] == filled.best_trial
    assert [r["objective"] for r in rows] == sorted((acc for _, acc in STAGE0), reverse=True)


def test_leaderboard_top_stage_and_csv(filled, capsys):
    code, out, _ = run("leaderboard", str(filled.study), "--top", "2", "--format", "csv",
                       "--server", filled.url, capsys=capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2
    assert int(rows[0]["trial"]) == filled.best_trial and float(rows[0]["objective"]) == 0.91
    assert float(rows[0]["lr"]) == 0.08  # full precision, not the table's rounding
    assert list(rows[0])[:6] == ["rank", "trial", "study", "stage", "state", "objective"]
    code, out, _ = run("leaderboard", str(filled.study), "--stage", "1", "--format", "json",
                       "--server", filled.url, capsys=capsys)
    assert code == 0 and json.loads(out) == []  # stage 1 has nothing ranked yet
    code, out, _ = run("leaderboard", str(filled.study), "--stage", "1", "--state", "queued",
                       "--format", "json", "--server", filled.url, capsys=capsys)
    assert len(json.loads(out)) == 4


def test_leaderboard_table_and_across_studies(filled, capsys):
    code, out, _ = run("leaderboard", str(filled.study), "--top", "3", "--server", filled.url,
                       capsys=capsys)
    assert code == 0
    assert "Leaderboard: 5 ranked trials, maximize val_accuracy" in out
    lines = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(lines) == 3
    assert [cells[0] for cells in lines] == ["1", "2", "3"]
    assert lines[0][1] == str(filled.best_trial)
    code, out, _ = run("leaderboard", "--top", "1", "--format", "json", "--server", filled.url,
                       capsys=capsys)
    assert code == 0 and json.loads(out)[0]["trial_id"] == filled.best_trial


def test_leaderboard_pages_with_limit_and_offset(filled, capsys):
    code, out, _ = run("leaderboard", str(filled.study), "--limit", "2", "--offset", "2",
                       "--format", "json", "--server", filled.url, capsys=capsys)
    assert code == 0
    rows = json.loads(out)
    ranked = sorted((acc for _, acc in STAGE0), reverse=True)
    assert [r["rank"] for r in rows] == [3, 4]
    assert [r["objective"] for r in rows] == ranked[2:4]
    code, out, _ = run("leaderboard", str(filled.study), "--top", "2", "--offset", "3",
                       "--server", filled.url, capsys=capsys)
    assert code == 0 and "Leaderboard: 5 ranked trials (ranks 4-5)" in out


@pytest.mark.parametrize(("argv", "needle"), [
    (["--top", "0"], "--top must be >= 1"),
    (["--offset", "-1"], "--offset must be >= 0"),
    (["--stage", "1"], "--stage needs a study"),
    (["1", "--dataset", "digits"], "--dataset filters across studies"),
])
def test_leaderboard_refuses_contradictory_options(filled, capsys, argv, needle):
    code, _, err = run("leaderboard", *argv, "--server", filled.url, capsys=capsys)
    assert code == 2 and needle in err


def test_study_show_lists_stages_ranges_and_the_edge_warning(filled, capsys):
    code, out, _ = run("study", "show", str(filled.study), "--server", filled.url,
                       capsys=capsys)
    assert code == 0
    assert f"study #{filled.study} custom-study" in out
    assert "best 0.91" in out
    assert "stage 0 (done): 1 trials x 3 epochs" in out
    assert "stage 1 (open): 4 trials x 5 epochs" in out
    assert "lr log [1e-05, 0.1]" in out  # stage 0's range
    assert "aborted=1 completed=5" in out
    assert "warning stage 0: best lr 8e-2 sits at the upper edge of [1e-5, 0.1]" in out


def test_trial_show_prints_params_curves_and_the_reason_verbatim(filled, capsys):
    code, out, _ = run("trial", "show", str(filled.best_trial), "--server", filled.url,
                       capsys=capsys)
    assert code == 0
    assert f"trial #{filled.best_trial}" in out and "completed, 3/3 epochs" in out
    assert "lr=0.08" in out and "val_accuracy=0.91" in out
    spark = next(line for line in out.splitlines() if line.strip().startswith("train_loss"))
    assert "█▄▁" in spark and "1.39 -> -0.43" in spark  # falling loss, first and last value
    assert next(line for line in out.splitlines()
                if line.strip().startswith("val_accuracy")).split()[1] == "▁▄█"
    code, out, _ = run("trial", "show", str(filled.aborted_trial), "--server", filled.url,
                       capsys=capsys)
    assert code == 0
    assert f"reason: {MARKUP_REASON}" in out  # markup-like text is printed, not interpreted
    assert "train_loss=nan" in out


def test_study_export_writes_what_the_api_streams(filled, capsys):
    for fmt in ("csv", "json"):
        code, out, _ = run("study", "export", str(filled.study), "--format", fmt,
                           "--server", filled.url, capsys=capsys)
        assert code == 0
        api = httpx.get(f"{filled.url}/api/v1/studies/{filled.study}/export",
                        params={"format": fmt})
        assert out == api.text
    rows = list(csv.DictReader(io.StringIO(
        run("study", "export", str(filled.study), "--server", filled.url, capsys=capsys)[1])))
    assert len(rows) == 1 + len(STAGE0) + 4
    assert {r["state"] for r in rows} == {"aborted", "completed", "queued"}


def test_a_stage_beyond_the_study_says_so(filled, capsys):
    code, out, err = run("leaderboard", str(filled.study), "--stage", "7", "--server",
                         filled.url, capsys=capsys)
    assert code == 2 and out == ""
    assert f"--stage 7: study {filled.study} has stages 0-1" in err


def test_views_of_missing_things_fail_in_one_line(filled, capsys):
    for argv in (["study", "show", "999"], ["trial", "show", "999"],
                 ["study", "export", "999"], ["leaderboard", "999"]):
        code, _, err = run(*argv, "--server", filled.url, capsys=capsys)
        assert code == 1, argv
        assert err.count("\n") == 1 and "not found" in err and "{" not in err, err


def test_export_from_an_unreachable_server_is_one_line(capsys):
    code, _, err = run("study", "export", "1", "--server", f"http://127.0.0.1:{free_port()}",
                       capsys=capsys)
    assert code == EXIT_UNREACHABLE
    assert "cannot reach" in err and "Traceback" not in err
