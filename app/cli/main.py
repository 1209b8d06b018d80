"""``hpsearch``: the command line. Each subcommand lives in its own module and is
imported only when used, so ``hpsearch worker`` never loads the server."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from app import __version__
from hpsearch.http import DEFAULT_SERVER, server_url

# exit codes: 1 the server refused the request, 2 bad usage (flags, input files)
EXIT_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 69  # 69: EX_UNAVAILABLE of sysexits.h

# Commands that parse their own arguments: name -> (module, help).
DELEGATED = {
    "worker": ("worker.cli", "pull trials from a server and train them"),
    "sanity": ("worker.sanity", "the lecture's sanity checks on a dataset and model"),
}


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        type=server_url,
        default=os.environ.get("HPSEARCH_SERVER", DEFAULT_SERVER),
        help="server URL (env HPSEARCH_SERVER; default %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("HPSEARCH_TOKEN"),
        help="bearer token (env HPSEARCH_TOKEN)",
    )


def build_parser() -> argparse.ArgumentParser:
    from app.cli import quickstart, serve, studies, tokens

    parser = argparse.ArgumentParser(
        prog="hpsearch",
        description="Hyperparameter random search with coarse-to-fine refinement.",
    )
    parser.add_argument("--version", action="version", version=f"hpsearch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve.register(sub)
    tokens.register(sub, add_client_options)
    studies.register(sub, add_client_options)
    quickstart.register(sub)
    for name, (_, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in DELEGATED:
        import importlib

        module = importlib.import_module(DELEGATED[argv[0]][0])
        return int(module.main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return run(handler, args)


def run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; expected failures print one line and exit non-zero."""
    from app.errors import ServiceError
    from hpsearch.http import ApiError, Unreachable

    try:
        return handler(args)
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Unreachable as exc:
        print(f"error: {exc}; is `hpsearch serve` running?", file=sys.stderr)
        return EXIT_UNREACHABLE
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


class CliError(Exception):
    """A mistake in the command line or its input files, said in one line."""
