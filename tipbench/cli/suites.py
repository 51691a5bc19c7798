"""`tipbench suite validate|push|list|show`: the suites users own, from file to gateway."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from shared.errors import SuiteInvalid
from shared.settings import Settings
from shared.suite import SUITE_REF_PATTERN, Suite
from shared.suite_files import parse_suite
from tipbench.cli.client import EXIT_OK, EXIT_USAGE, CliError, Gateway
from tipbench.cli.command import RAW_JSON, Subcommands, add_group, bind_command, json_printed
from tipbench.cli.display import print_table, problem_lines, when

SUITES = "/api/bench/suites"


def is_json_file(path: Path) -> bool:
    """A `.json` file is read as JSON, any other as YAML."""
    return path.suffix.lower() == ".json"


def read_suite(path: Path) -> tuple[bytes, Suite]:
    """A suite file's bytes and its suite; CliError (exit 2) with one line per problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}", EXIT_USAGE) from None
    try:
        return raw, parse_suite(raw, is_json=is_json_file(path))
    except SuiteInvalid as exc:
        raise CliError("", EXIT_USAGE, problem_lines(path, exc.problems)) from None


def summary(suite: Suite) -> str:
    """What a suite holds, in one line."""
    low, high = suite.rubric.composite_range
    return (
        f"suite {suite.suite} version {suite.content_version()}: {len(suite.scenarios)} scenarios,"
        f" {len(suite.prompts)} prompts, rubric {suite.rubric.id} (composite {low:g}..{high:g})"
    )


def push_suite(gateway: Gateway, path: Path) -> dict[str, Any]:
    """Check a suite file here, then store it in the gateway; returns its SuiteRecord.

    A YAML file goes as its own text, so that the gateway's line numbers are the file's.
    """
    raw, _ = read_suite(path)
    media = "application/json" if is_json_file(path) else "application/yaml"
    try:
        record: dict[str, Any] = gateway.call("POST", SUITES, content=raw, content_type=media)
    except CliError as exc:
        if exc.details:
            exc.lines = problem_lines(path, exc.details)
        raise
    return record


def pushed_line(record: dict[str, Any]) -> str:
    """`name@version` and whether the gateway stored it just now."""
    state = "pushed (new version)" if record.get("created") else "already stored (same content)"
    return f"suite {record['suite']}@{record['version']}: {state}"


def suite_for_run(gateway: Gateway, value: str, folder: Path) -> str:
    """The suite a run names: a file (relative to `folder`) is pushed and named
    `name@version`; a stored name is passed as is."""
    path = folder / value
    if path.is_file():
        record = push_suite(gateway, path)
        print(pushed_line(record))
        return f"{record['suite']}@{record['version']}"
    if not re.fullmatch(SUITE_REF_PATTERN, value):
        raise CliError(f"suite {value!r}: no such file ({path}) and not a suite name", EXIT_USAGE)
    return value


def cmd_suite_validate(args: argparse.Namespace) -> int:
    """Check a suite file; exit 0 with a summary, or exit 2 with one FILE:LINE: place: message
    line per problem. E.g. tipbench suite validate study.yaml"""
    path = Path(args.file)
    _, suite = read_suite(path)
    print(f"{path}: ok — {summary(suite)}")
    return EXIT_OK


def cmd_suite_push(settings: Settings, args: argparse.Namespace) -> int:
    """Store a suite file as a new version (its content's hash); pushing the same content
    again changes nothing. E.g. tipbench suite push study.yaml"""
    record = push_suite(Gateway(settings), Path(args.file))
    if not json_printed(args, record):
        print(pushed_line(record))
    return EXIT_OK


def cmd_suite_list(settings: Settings, args: argparse.Namespace) -> int:
    """Every suite's newest version, built-ins first."""
    records: list[dict[str, Any]] = Gateway(settings).call("GET", SUITES)
    if json_printed(args, records):
        return EXIT_OK
    rows = [["suite", "version", "scenarios", "prompts", "rubric", "pushed"]]
    rows += [
        [
            r["suite"],
            r["version"],
            str(r["n_scenarios"]),
            " ".join(r["prompts"]),
            r["rubric_id"],
            "built-in" if r["builtin"] else when(r["created_at"]),
        ]
        for r in records
    ]
    print_table(rows)
    return EXIT_OK


def suite_document(gateway: Gateway, ref: str) -> tuple[dict[str, Any], int]:
    """The stored `{record, suite}` of `name` (its newest version) or `name@version`, and how
    many versions of it are stored."""
    if not re.fullmatch(SUITE_REF_PATTERN, ref):
        raise CliError(f"{ref!r} is not a suite name or name@version", EXIT_USAGE)
    name, _, version = ref.partition("@")
    versions: list[dict[str, Any]] = gateway.call("GET", f"{SUITES}/{name}")
    if not version:
        version = versions[0]["version"]  # newest first
    document: dict[str, Any] = gateway.call("GET", f"{SUITES}/{name}/{version}")
    return document, len(versions)


def show_lines(record: dict[str, Any], suite: Suite, n_versions: int) -> list[str]:
    """A suite as text: scenarios, prompts with their registry URIs, checks and rubric."""
    origin = "built-in" if record["builtin"] else f"pushed {when(record['created_at'])}"
    stored = f"{n_versions} version{'s' if n_versions != 1 else ''} stored"
    lines = [f"suite {suite.suite}@{record['version']} ({origin}; {stored})"]
    if suite.description:
        lines.append(f"  {suite.description}")
    lines.append(f"scenarios ({len(suite.scenarios)}):")
    width = max(len(s.id) for s in suite.scenarios)
    for scenario in suite.scenarios:
        facets = " ".join(f"{k}={v}" for k, v in scenario.facets.items())
        lines.append(f"  {scenario.id:<{width}}  {facets}".rstrip())
    lines.append(f"prompts ({len(suite.prompts)}):")
    width = max(len(p.version) for p in suite.prompts)
    for prompt in suite.prompts:
        uri = record["prompt_uris"].get(prompt.version, "-")
        n_shots = len(prompt.examples)
        shots = f"  ({n_shots} example{'s' if n_shots != 1 else ''})" if n_shots else ""
        lines.append(f"  {prompt.version:<{width}}  {uri}{shots}")
    checks = suite.checks
    lines.append(
        f"checks: {checks.n_tips} tips per answer, overlong past {checks.word_limit} words"
    )
    rubric = suite.rubric
    low, high = rubric.composite_range
    lines.append(f"rubric {rubric.id} v{rubric.version}: composite {low:g}..{high:g}")
    for item in rubric.items:
        lines.append(f"  item {item.id} (1-5): {item.question}")
    for flag in rubric.flags:
        lines.append(f"  flag {flag.id} (x{flag.weight:g}): {flag.question}")
    return lines


def cmd_suite_show(settings: Settings, args: argparse.Namespace) -> int:
    """A stored suite version in full."""
    document, n_versions = suite_document(Gateway(settings), args.ref)
    if json_printed(args, document, ensure_ascii=False):
        return EXIT_OK
    suite = Suite.model_validate(document["suite"])
    print("\n".join(show_lines(document["record"], suite, n_versions)))
    return EXIT_OK


def register(sub: Subcommands) -> None:
    """Add `suite validate|push|list|show`."""
    suite_sub = add_group(
        sub,
        "suite",
        help="check, store and inspect suite files",
        description="A suite file (YAML, or JSON if it ends in .json) holds scenarios, prompt"
        " versions, checks and a rubric; see docs/examples/study-tips.yaml.",
    )
    validate = suite_sub.add_parser("validate", help="check a suite file here, without a gateway")
    validate.add_argument("file", help="the suite file")
    bind_command(validate, cmd_suite_validate, described=True, offline=True)
    push = suite_sub.add_parser("push", help="check a suite file, then store it in the gateway")
    push.add_argument("file", help="the suite file")
    bind_command(push, cmd_suite_push, described=True, json_help="print the stored record as JSON")
    listing = suite_sub.add_parser("list", help="every suite's newest version")
    bind_command(listing, cmd_suite_list, json_help=RAW_JSON)
    show = suite_sub.add_parser(
        "show",
        help="a stored suite: scenarios, prompts, rubric",
        description="E.g. tipbench suite show tip-v1, tipbench suite show study-tips@0123456789ab",
    )
    show.add_argument("ref", metavar="NAME[@VERSION]", help="default version: the newest")
    bind_command(show, cmd_suite_show, json_help="print the record and the suite")
