"""``hpsearch worker``: pull trials from a server and train them.

Server-free: this imports neither FastAPI nor SQLAlchemy, only the HTTP client, the
trainer and (for ``--objective``) the user's module.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable

from hpsearch.http import default_server, default_token, server_url


def _number(kind: type, low: float, *, strict: bool) -> Callable[[str], float]:
    """An argparse type: ``kind`` (int or float) above ``low`` (or at least ``low``)."""
    bound = f"> {low:g}" if strict else f">= {low:g}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'} {bound}, got {text!r}"
            ) from None
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text!r}")
        return value

    return parse


def objective_spec(text: str) -> str:
    module, sep, function = text.partition(":")
    parts = [*module.split("."), *function.split(".")]
    if not sep or not all(part.isidentifier() for part in parts):
        raise argparse.ArgumentTypeError(
            f"expected package.module:function, got {text!r}"
        )
    return text


def build_parser() -> argparse.ArgumentParser:
    positive_int = _number(int, 1, strict=False)
    p = argparse.ArgumentParser(
        prog="hpsearch worker",
        description="Claim trials from an hpsearch server, train them (the built-in NumPy "
        "trainer, or --objective), report every epoch, and finish them.",
    )
    p.add_argument("--server", type=server_url,
                   default=default_server(),
                   help="server URL (env HPSEARCH_SERVER; default %(default)s)")
    p.add_argument("--token", default=default_token(),
                   help="worker or admin token (env HPSEARCH_TOKEN)")
    p.add_argument("--study", dest="studies", type=positive_int, action="append", default=[],
                   metavar="ID", help="only claim trials of this study (repeatable)")
    p.add_argument("--processes", type=positive_int, default=1, metavar="K",
                   help="independent worker processes on this node (default 1)")
    p.add_argument("--threads", type=positive_int, metavar="N",
                   default=os.environ.get("HPSEARCH_WORKER_THREADS"),
                   help="BLAS threads per process (env HPSEARCH_WORKER_THREADS; default: "
                   "cores / processes)")
    p.add_argument("--max-trials", type=positive_int, metavar="N",
                   help="exit after N trials (per process)")
    p.add_argument("--idle-exit", type=_number(float, 0, strict=False), metavar="SECONDS",
                   help="exit after this long without work; time in which a served study "
                   "still has trials running does not count (default: poll forever)")
    p.add_argument("--name", help="worker name (default HOST-PID; children add -0, -1, ...)")
    p.add_argument("--objective", type=objective_spec, metavar="MODULE:FUNCTION",
                   help="run custom tasks with function(params, report) from this module "
                   "(resolved from the current directory like `python -c 'import MODULE'`)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--quiet", action="store_true", help="only warnings and errors")
    out.add_argument("--log-json", action="store_true", help="JSON lines on stdout")
    p.add_argument("--poll-max", type=_number(float, 0, strict=True), default=10.0,
                   metavar="SECONDS", help="longest wait between polls of an empty queue or "
                   "retries of an unreachable server (default %(default)s)")
    p.add_argument("--retry-seconds", type=_number(float, 0, strict=False), default=300.0,
                   metavar="SECONDS", help="how long a trial's reports and result are retried "
                   "while the server is unreachable (default %(default)s)")
    p.add_argument("--supervisor-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--node-processes", type=int, help=argparse.SUPPRESS)
    return p


def _child_args(args: argparse.Namespace, name: str) -> Callable[[int, int], list[str]]:
    """The command line of supervised child ``index`` (the token goes by environment)."""

    def argv(index: int, threads: int) -> list[str]:
        out = ["--server", args.server, "--name", f"{name}-{index}", "--threads", str(threads),
               "--supervisor-pid", str(os.getpid()), "--node-processes", str(args.processes),
               "--poll-max", str(args.poll_max), "--retry-seconds", str(args.retry_seconds)]
        for study in args.studies:
            out += ["--study", str(study)]
        for flag, value in (("--max-trials", args.max_trials), ("--idle-exit", args.idle_exit),
                            ("--objective", args.objective)):
            if value is not None:
                out += [flag, str(value)]
        if args.quiet:
            out.append("--quiet")
        if args.log_json:
            out.append("--log-json")
        return out

    return argv


def main(argv: list[str] | None = None) -> int:
    from worker.progress import make_progress
    from worker.supervisor import cpu_count, limit_blas, supervise

    args = build_parser().parse_args(argv)
    name = args.name or f"{socket.gethostname()}-{os.getpid()}"
    mode = "quiet" if args.quiet else "json" if args.log_json else "rich"
    if args.processes > 1:
        threads = args.threads or max(1, cpu_count() // args.processes)
        return supervise(args.processes, threads, _child_args(args, name),
                         lambda i: f"{name}-{i}", args.token, make_progress(mode, name))
    if args.objective and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    from worker.loop import Options, Worker

    progress = make_progress(mode, name, live=args.supervisor_pid is None)
    options = Options(
        server=args.server, token=args.token, name=name, studies=tuple(args.studies),
        objective=args.objective, max_trials=args.max_trials, idle_exit=args.idle_exit,
        poll_max=args.poll_max, retry_seconds=args.retry_seconds,
        processes=args.node_processes or 1, parent=args.supervisor_pid,
        blas_threads=limit_blas(args.threads or cpu_count()),
    )
    return Worker(options, progress).run()


if __name__ == "__main__":
    sys.exit(main())
