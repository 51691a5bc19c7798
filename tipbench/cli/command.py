"""How a command is declared: its parser, the function it runs, the `--json` flag most
commands have, and the groups of sub-commands (`tipbench suite push`)."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import Any, TypeAlias

from tipbench.cli.display import print_json

# a string: argparse's class takes no type argument at run time
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
RAW_JSON = "print the raw JSON"


def add_group(sub: Subcommands, name: str, **texts: Any) -> Subcommands:
    """A command made of sub-commands, one of which must be named."""
    group = sub.add_parser(name, **texts)
    return group.add_subparsers(dest=f"{name}_command", required=True)


def bind_command(
    command: argparse.ArgumentParser,
    func: Callable[..., int],
    *,
    described: bool = False,
    json_help: str | None = None,
    **defaults: Any,
) -> None:
    """End a command's declaration: a `--json` flag after its other options if json_help,
    the function that runs it, and if `described` that function's docstring as the
    command's --help description (the one place that says what the command does)."""
    if json_help is not None:
        command.add_argument("--json", action="store_true", help=json_help)
    if described:
        command.description = inspect.getdoc(func)
    command.set_defaults(func=func, **defaults)


def json_printed(args: argparse.Namespace, document: Any, **options: Any) -> bool:
    """With --json, print the command's document as JSON (print_json's options) and return
    True; without it return False, for the command to print its text."""
    if args.json:
        print_json(document, **options)
    return bool(args.json)
