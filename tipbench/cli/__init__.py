"""`tipbench`: run the local stack and talk to the gateway from a terminal."""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from tipbench import stack
from tipbench.cli import compare, judging, local, manage, migrate, report, runs, suites
from tipbench.cli.client import EXIT_UNREACHABLE, CliError, load_settings


def parser() -> argparse.ArgumentParser:
    """The command line: one module per concern adds its commands."""
    top = argparse.ArgumentParser(
        prog="tipbench",
        description=__doc__,
        epilog="The admin token comes from TIPBENCH_ADMIN_TOKEN (or _FILE), else from the"
        " local stack's var/admin-token. Settings: TIPBENCH_* variables (see the README).",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    top.add_argument(
        "--url",
        help="the gateway, e.g. https://bench.example.org (default: TIPBENCH_URL, else the"
        " local stack's http://127.0.0.1:8000)",
    )
    sub = top.add_subparsers(dest="command", required=True)
    local.register(sub)
    runs.register(sub)
    suites.register(sub)
    judging.register(sub)
    report.register(sub)
    compare.register(sub)
    migrate.register(sub)
    manage.register(sub)
    return top


def _version() -> str:
    try:
        return metadata.version("tipbench")
    except metadata.PackageNotFoundError:  # run from a source tree without an install
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tipbench`."""
    args = parser().parse_args(argv)
    try:
        if getattr(args, "offline", False):  # needs no settings, token or gateway
            return int(args.func(args))
        settings = load_settings()
        if args.url:
            settings = settings.model_copy(update={"url": args.url})
        return int(args.func(settings, args))
    except CliError as exc:
        if str(exc):
            print(f"tipbench: {exc}", file=sys.stderr)
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.code
    except stack.StackError as exc:
        print(f"tipbench: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
