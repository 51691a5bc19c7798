"""`tipbench report`: the experiment's report to share, one self-contained HTML file."""

from __future__ import annotations

import argparse
import sys

from shared.settings import Settings
from tipbench.cli.client import EXIT_OK, Gateway, write_output


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Write the report the reporter made with the experiment's latest leaderboard."""
    html: str = Gateway(settings).call("GET", f"/api/bench/report/{args.experiment}", text=True)
    output = args.output or f"{args.experiment}-report.html"
    if output == "-":
        sys.stdout.write(html)
        return EXIT_OK
    write_output(output, html)
    print(f"report of {args.experiment} ({len(html.encode()) // 1024 + 1} KiB) -> {output}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `report`."""
    report = sub.add_parser(
        "report",
        help="write an experiment's report: one HTML file to share",
        description="Write the report of the experiment's latest leaderboard: the ranking,"
        " the interval chart, breakdowns, judge agreement, every scenario's answers side by"
        " side, the suite and the reproducibility record. One HTML file with no external"
        " reference; the same file is the `report.html` artifact of the experiment's"
        " `leaderboard` run in MLflow.",
    )
    report.add_argument("experiment")
    report.add_argument(
        "-o",
        "--output",
        help="file to write, - for standard output (default: <experiment>-report.html)",
    )
    report.set_defaults(func=cmd_report)
