"""`tipbench report`: the experiment's report to share, one self-contained HTML file."""

from __future__ import annotations

import argparse
import sys
import time

from shared.report import report_version
from shared.settings import Settings
from tipbench.cli.client import EXIT_OK, Gateway, write_output
from tipbench.cli.command import Subcommands, bind_command


def latest_report(gateway: Gateway, experiment: str, wait_s: float) -> str:
    """The report, once it shows the experiment's stored leaderboard: the reporter stores a
    leaderboard first and writes its report right after. After wait_s, the report as is,
    with a warning."""
    path = f"/api/bench/report/{experiment}"
    deadline = time.monotonic() + wait_s
    while True:
        html: str = gateway.call("GET", path, text=True)
        shown = report_version(html) or 0
        latest = int(gateway.call("GET", f"/api/bench/leaderboard/{experiment}")["version"])
        if shown >= latest:
            return html
        if time.monotonic() > deadline:
            print(
                f"tipbench: warning: the report shows leaderboard version {shown}; version"
                f" {latest} has no report yet (is the reporter running?)",
                file=sys.stderr,
            )
            return html
        time.sleep(0.5)


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Write the report of the experiment's latest leaderboard: the ranking, the interval
    chart, breakdowns, judge agreement, every scenario's answers side by side, the suite and
    the reproducibility record. One HTML file with no external reference; the same file is
    the `report.html` artifact of the experiment's `leaderboard` run in MLflow."""
    html = latest_report(Gateway(settings), args.experiment, args.wait)
    output = args.output or f"{args.experiment}-report.html"
    if output == "-":
        sys.stdout.write(html)
        return EXIT_OK
    write_output(output, html)
    print(f"report of {args.experiment} ({len(html.encode()) // 1024 + 1} KiB) -> {output}")
    return EXIT_OK


def register(sub: Subcommands) -> None:
    """Add `report`."""
    report = sub.add_parser("report", help="write an experiment's report: one HTML file to share")
    report.add_argument("experiment")
    report.add_argument(
        "-o",
        "--output",
        help="file to write, - for standard output (default: <experiment>-report.html)",
    )
    report.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the report of the latest leaderboard (default 30)",
    )
    bind_command(report, cmd_report, described=True)
