"""``hpsearch study ...``, ``hpsearch leaderboard`` and ``hpsearch trial show``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from rich.markup import escape

from app.cli import output
from app.cli.boards import leaderboard_table
from app.cli.main import CliError
from hpsearch.formatting import fmt
from hpsearch.http import ApiClient, ApiError, Unreachable, error_detail

CURVE_METRICS = ("train_loss", "train_accuracy", "val_accuracy", "learning_rate")
TRIAL_STATES = ("queued", "running", "completed", "aborted", "pruned", "failed")


def register(sub: argparse._SubParsersAction, client_options: Callable) -> None:
    p = sub.add_parser("study", help="create, inspect and control studies")
    ssub = p.add_subparsers(dest="study_command", metavar="ACTION", required=True)

    c = ssub.add_parser("create", help="create a study from a YAML or JSON file")
    c.add_argument("file", help="study spec (.yaml, .yml or .json)")
    client_options(c)
    c.set_defaults(handler=create)

    ls = ssub.add_parser("list", help="list studies")
    client_options(ls)
    ls.set_defaults(handler=list_studies)

    for name, help_text, handler in (
        ("show", "stages, ranges, warnings and counts of a study", show),
        ("pause", "stop handing out the study's trials", change("pause")),
        ("resume", "hand out the study's trials again", change("resume")),
        ("cancel", "end a study; finished trials stay", change("cancel")),
    ):
        q = ssub.add_parser(name, help=help_text)
        q.add_argument("id", type=int)
        client_options(q)
        q.set_defaults(handler=handler)

    r = ssub.add_parser("refine", help="open the next stage now, refined around the best")
    r.add_argument("id", type=int)
    r.add_argument("--trials", type=int, help="trials in the new stage")
    r.add_argument("--budget", type=int, help="or: epochs the new stage may train in all")
    r.add_argument("--epochs", type=int, help="epochs per trial in the new stage")
    r.add_argument("--policy", help="refine policy override as JSON, e.g. '{\"top_k\": 5}'")
    client_options(r)
    r.set_defaults(handler=refine)

    e = ssub.add_parser("export", help="every trial with params and metrics, to stdout")
    e.add_argument("id", type=int)
    e.add_argument("--format", choices=["csv", "json"], default="csv")
    client_options(e)
    e.set_defaults(handler=export)

    lb = sub.add_parser("leaderboard", help="trials ranked by the objective")
    lb.add_argument("study", nargs="?", type=int, help="study id (default: across studies)")
    lb.add_argument("--top", "--limit", dest="top", type=int, default=20,
                    help="rows to show (default 20)")
    lb.add_argument("--offset", type=int, default=0,
                    help="skip this many ranked rows first (page on with --top)")
    lb.add_argument("--stage", type=int, help="only this stage")
    lb.add_argument("--state", choices=TRIAL_STATES, help="only trials in this state")
    lb.add_argument("--dataset", help="only studies on this dataset (across studies)")
    lb.add_argument("--format", choices=["table", "json", "csv"], default="table")
    client_options(lb)
    lb.set_defaults(handler=leaderboard)

    t = sub.add_parser("trial", help="inspect trials")
    tsub = t.add_subparsers(dest="trial_command", metavar="ACTION", required=True)
    ts = tsub.add_parser("show", help="a trial's params, metrics and curves")
    ts.add_argument("id", type=int)
    client_options(ts)
    ts.set_defaults(handler=trial_show)


def load_spec(path: str) -> dict[str, Any]:
    """Read a study spec from YAML or JSON, with errors that name the file."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise CliError(f"study file {path} not found")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise CliError(f"{path} is not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold a mapping (name, task, space, stages, ...)")
    return data


def create(args: argparse.Namespace) -> int:
    spec = load_spec(args.file)
    with output.client(args) as api:
        study = api.post("/api/v1/studies", spec)
    n = sum(study["counts"].values())
    output.console.print(
        f"created study [bold]#{study['id']}[/] {escape(study['name'])}: stage 0 queued {n} trials"
    )
    for w in study["space_warnings"]:
        output.console.print(f"[yellow]warning:[/] {escape(w)}")
    return 0


def list_studies(args: argparse.Namespace) -> int:
    with output.client(args) as api:
        data = api.get("/api/v1/studies", limit=200)
    rows = [
        [s["id"], s["name"], s["dataset"], s["state"], s["current_stage"],
         _counts(s["counts"]), s["best"], s["warnings"]]
        for s in data["items"]
    ]
    output.table(["id", "name", "dataset", "state", "stage", "trials", "best", "warnings"], rows,
                 title=f"Studies ({data['total']})")
    return 0


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "-"


def print_study(study: dict[str, Any]) -> None:
    """Stages with their ranges, counts and warnings: the summary a person reads."""
    c = output.console
    c.print(
        f"[bold]study #{study['id']} {escape(study['name'])}[/]  {study['state']}"
        + (f" ({escape(study['state_reason'])})" if study["state_reason"] else "")
        + f"  objective {study['direction']} {study['metric']}  best {fmt(study['best'])}"
    )
    c.print(f"trials: {_counts(study['counts'])}")
    if pick := study.get("pick"):
        spread = f" ± {fmt(pick['std'])}" if pick["std"] is not None else ""
        c.print(f"[bold]pick[/]: trial {pick['trial_id']}, {study['metric']} "
                f"{fmt(pick['mean'])}{spread} ({escape(pick['reason'])})", highlight=False)
    for stage in study["stages"]:
        ranges = ", ".join(
            f"{name} {_range(p)}" for name, p in stage["space"].items() if p["type"] != "fixed"
        )
        c.print(
            f"  stage {stage['index']} ({stage['state']}): {output.stage_size(stage)}, "
            f"{stage['sampler']}, pruning "
            f"{stage['pruning'].get('rule', 'none')}; {_counts(stage['counts'])}\n"
            f"    {escape(ranges)}"
        )
    for w in study["warning_list"]:
        where = f"stage {w['stage']}: " if w["stage"] is not None else ""
        c.print(f"  [yellow]warning[/] {where}{escape(w['message'])}", highlight=False)


def _range(p: dict[str, Any]) -> str:
    if p["type"] == "choice":
        return "{" + ", ".join(fmt(v) for v in p["values"]) + "}"
    scale = "log " if p["type"] == "log_uniform" or p.get("log") else ""
    return f"{scale}[{fmt(p['low'])}, {fmt(p['high'])}]"


def show(args: argparse.Namespace) -> int:
    with output.client(args) as api:
        print_study(api.get(f"/api/v1/studies/{args.id}"))
    return 0


def change(action: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        with output.client(args) as api:
            study = api.post(f"/api/v1/studies/{args.id}/{action}")
        output.console.print(f"study #{study['id']} is {study['state']}")
        return 0

    return run


def refine(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"trials": args.trials, "budget": args.budget, "epochs": args.epochs}
    if args.policy:
        try:
            body["policy"] = json.loads(args.policy)
        except json.JSONDecodeError as exc:
            raise CliError(f"--policy is not valid JSON: {exc}") from None
    with output.client(args) as api:
        stage = api.post(f"/api/v1/studies/{args.id}/refine", body)
    output.console.print(
        f"stage {stage['index']} opened: {output.stage_size(stage)}"
    )
    return 0


def export(args: argparse.Namespace) -> int:
    path = f"/api/v1/studies/{args.id}/export"
    with output.client(args) as api:
        try:
            with api.http.stream("GET", path, params={"format": args.format}) as response:
                if response.is_error:
                    response.read()
                    raise ApiError(response.status_code, error_detail(response), "GET", path)
                for chunk in response.iter_text():
                    sys.stdout.write(chunk)
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach the hpsearch server at {api.server} ({exc})") from exc
    return 0


def leaderboard(args: argparse.Namespace) -> int:
    _check_leaderboard_flags(args)
    with output.client(args) as api:
        if args.study is not None:
            data = api.get(f"/api/v1/studies/{args.study}/leaderboard", limit=args.top,
                           offset=args.offset, stage=args.stage, state=args.state)
        else:
            data = api.get("/api/v1/leaderboard", limit=args.top, offset=args.offset,
                           state=args.state, dataset=args.dataset)
        if args.stage is not None and not data["rows"]:
            _check_stage_exists(api, args.study, args.stage)
    board = leaderboard_table(data, across=args.study is None,
                              every_column=args.format == "csv")
    output.emit(args.format, board.headers, board.rows, data["rows"], title=board.title)
    return 0


def _check_leaderboard_flags(args: argparse.Namespace) -> None:
    if args.top < 1:
        raise CliError("--top must be >= 1")
    if args.offset < 0:
        raise CliError("--offset must be >= 0")
    if args.study is None and args.stage is not None:
        raise CliError("--stage needs a study: hpsearch leaderboard STUDY --stage S")
    if args.study is not None and args.dataset is not None:
        raise CliError("--dataset filters across studies; leave out STUDY to use it")


def _check_stage_exists(api: ApiClient, study: int, stage: int) -> None:
    """An empty page of a stage the study never had is a mistake: say so."""
    stages = len(api.get(f"/api/v1/studies/{study}")["stages"])
    if stage >= stages:
        have = "only stage 0" if stages == 1 else f"stages 0-{stages - 1}"
        raise CliError(f"--stage {stage}: study {study} has {have}")


def trial_show(args: argparse.Namespace) -> int:
    with output.client(args) as api:
        t = api.get(f"/api/v1/trials/{args.id}")
    c = output.console
    c.print(f"[bold]trial #{t['id']}[/] (study {t['study_id']}, stage {t['stage']}): "
            f"{t['state']}, {t['steps']}/{t['epochs']} epochs, "
            f"attempt {t['attempt']}")
    if t["reason"]:
        c.print(f"reason: {t['reason']}", highlight=False, markup=False)
    c.print("params: " + ", ".join(f"{k}={fmt(v)}" for k, v in t["params"].items()),
            markup=False)
    flat = {k: v for k, v in t["metrics"].items() if not isinstance(v, dict | list)}
    if flat:
        c.print("metrics: " + ", ".join(f"{k}={fmt(v)}" for k, v in flat.items()), markup=False)
    reports = t["reports"]
    if not reports:
        return 0
    names = [m for m in CURVE_METRICS if any(m in r["metrics"] for r in reports)]
    for m in names:
        values = [r["metrics"].get(m) for r in reports]
        c.print(f"  {m:<15} {output.sparkline(values)}  {fmt(values[0])} -> {fmt(values[-1])}")
    output.table(["epoch", *names],
                 [[r["step"], *(r["metrics"].get(m) for m in names)] for r in reports])
    return 0
