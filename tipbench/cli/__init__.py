"""`tipbench`: run the local stack and talk to the gateway from a terminal."""

from __future__ import annotations

import argparse
import sys

from tipbench import stack
from tipbench.cli import compare, judging, local, migrate, report, runs, suites
from tipbench.cli.client import EXIT_UNREACHABLE, CliError, load_settings


def parser() -> argparse.ArgumentParser:
    """The command line: one module per concern adds its commands."""
    top = argparse.ArgumentParser(prog="tipbench", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    local.register(sub)
    runs.register(sub)
    suites.register(sub)
    judging.register(sub)
    report.register(sub)
    compare.register(sub)
    migrate.register(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tipbench`."""
    args = parser().parse_args(argv)
    try:
        if getattr(args, "offline", False):  # needs no settings, token or gateway
            return int(args.func(args))
        return int(args.func(load_settings(), args))
    except CliError as exc:
        if str(exc):
            print(f"tipbench: {exc}", file=sys.stderr)
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.code
    except stack.StackError as exc:
        print(f"tipbench: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
