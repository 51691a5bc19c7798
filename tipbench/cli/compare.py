"""`tipbench compare A B`: rows of two experiments, paired on their shared scenarios."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import urlencode

from shared.settings import Settings
from tipbench.cli.client import EXIT_OK, Gateway
from tipbench.cli.command import Subcommands, bind_command, json_printed
from tipbench.cli.display import fmt, print_table

COMPARE_HEADER = ["row a", "row b", "scen", "mean a", "mean b", "a - b", "95% CI", "p", ""]


def comparison_rows(comparison: dict[str, Any]) -> list[list[str]]:
    """The table: one line per pair of rows, `*` marking a significant difference."""
    rows = [COMPARE_HEADER]
    for r in comparison["rows"]:
        span = f"{fmt(r['ci_low'])}..{fmt(r['ci_high'])}" if r["ci_low"] is not None else "-"
        diff = "-" if r["mean_diff"] is None else f"{r['mean_diff']:+.2f}"
        rows.append(
            [
                r["row_a"],
                r["row_b"],
                str(r["n_shared"]),
                fmt(r["mean_a"]),
                fmt(r["mean_b"]),
                diff,
                span,
                r["p_shown"] or "-",
                "*" if r["significant"] else "",
            ]
        )
    return rows


def print_comparison(comparison: dict[str, Any]) -> None:
    """The comparison as a table, then what it leaves out and why."""
    a, b = comparison["experiment_a"], comparison["experiment_b"]
    print(f"{a} ({comparison['suite_a']}) minus {b} ({comparison['suite_b']})")
    print_table(comparison_rows(comparison))
    print("* p <= 0.05: paired sign-flip test on the shared scenarios (docs/statistics.md)")
    for r in comparison["rows"]:
        if r["note"]:
            print(f"{r['row_a']} vs {r['row_b']}: {r['note']}")
    for side, key in ((a, "only_in_a"), (b, "only_in_b")):
        if comparison[key]:
            print(f"only in {side}: {', '.join(comparison[key])}")
    if comparison["note"]:
        print(f"note: {comparison['note']}")


def cmd_compare(settings: Settings, args: argparse.Namespace) -> int:
    """Experiment a's rows minus b's, as a table or JSON."""
    query = {"a": args.experiment_a, "b": args.experiment_b}
    query |= {k: v for k, v in (("row_a", args.row_a), ("row_b", args.row_b)) if v}
    comparison = Gateway(settings).call("GET", f"/api/bench/compare?{urlencode(query)}")
    if not json_printed(args, comparison):
        print_comparison(comparison)
    return EXIT_OK


def register(sub: Subcommands) -> None:
    """Add `compare`."""
    compare = sub.add_parser(
        "compare",
        help="two experiments' rows, paired on their shared scenarios",
        description="Rows of experiment A minus rows of experiment B: matched by (model,"
        " prompt), or the pair named with --row-a/--row-b; each with the mean difference,"
        " its 95%% interval and p, paired on the scenarios both rows have.",
        epilog="E.g. did prompt v4 beat v3?\n"
        "  tipbench compare study-v4 study-v3 --row-a 'qwen2.5:0.5b|v4' --row-b"
        " 'qwen2.5:0.5b|v3'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("experiment_a", metavar="A")
    compare.add_argument("experiment_b", metavar="B", help="may be A itself")
    compare.add_argument("--row-a", metavar="MODEL|PROMPT", help="the row of A to compare")
    compare.add_argument(
        "--row-b", metavar="MODEL|PROMPT", help="the row of B (default: the same as --row-a)"
    )
    bind_command(compare, cmd_compare, json_help="print the JSON document")
