"""`tipbench judge export|import`: blind packets out, a judge's score files in."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any
from urllib.parse import urlencode

from shared.settings import Settings
from shared.strictjson import strict_loads
from tipbench.cli.client import (
    EXIT_FAILED_CELLS,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
    Gateway,
)
from tipbench.cli.command import Subcommands, add_group, bind_command
from tipbench.cli.manage import register_judge_run

PACKET_WAIT_S = 60.0  # the judge bridge builds the packet a moment after a job ends
NOT_YET = "has no judge packet yet"  # the gateway's answer before the first packet


def job_just_ended(gateway: Gateway, experiment: str) -> bool:
    """True if a recent job of the experiment has ended with runs: its packet is coming."""
    jobs = gateway.call("GET", "/api/bench/jobs")
    return any(
        job["experiment"] == experiment and job["status"] in ("finished", "partial") and job["done"]
        for job in jobs
    )


def packet_when_built(gateway: Gateway, path: str, experiment: str) -> Any:
    """The packet; if it is not built yet right after a job ended, wait for it (up to
    PACKET_WAIT_S). Any other refusal fails at once."""
    try:
        return gateway.call("GET", path)
    except CliError as exc:
        if NOT_YET not in str(exc) or not job_just_ended(gateway, experiment):
            raise
        print(
            f"waiting for the judge packet of {experiment} (built when a job ends;"
            f" up to {PACKET_WAIT_S:.0f} s)",
            file=sys.stderr,
        )
        deadline = time.monotonic() + PACKET_WAIT_S
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                return gateway.call("GET", path)
            except CliError as again:
                if NOT_YET not in str(again):
                    raise
        raise CliError(
            f"{exc} (still none after {PACKET_WAIT_S:.0f} s: is the judge_bridge running?)",
            exc.code,
        ) from exc


def cmd_judge_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write an experiment's blind judge packet (or a judge's pair packet) to a file or
    standard output."""
    if args.pairwise:
        if not args.judge:
            raise CliError(
                "--pairwise needs --judge: a pair packet is made for one judge", EXIT_USAGE
            )
        query = {"judge": args.judge} | ({"n_pairs": args.n_pairs} if args.n_pairs else {})
        path, what = f"/api/bench/judge/{args.experiment}/pairs?{urlencode(query)}", "pairs"
    else:
        query = {"judge": args.judge} if args.judge else {}
        path = f"/api/bench/judge/{args.experiment}/packet"
        path, what = f"{path}?{urlencode(query)}" if query else path, "items"
    packet = packet_when_built(Gateway(settings), path, args.experiment)
    text = json.dumps(packet, indent=2, ensure_ascii=False)
    if args.output in (None, "-"):
        print(text)
        return EXIT_OK
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc.strerror or exc}", EXIT_USAGE) from exc
    print(f"packet {packet['packet_id']}: {len(packet[what])} {what} -> {args.output}")
    return EXIT_OK


def cmd_judge_import(settings: Settings, args: argparse.Namespace) -> int:
    """Submit a score file, then wait until the judge bridge has ingested it."""
    try:
        with open(args.file, encoding="utf-8") as handle:
            body = strict_loads(handle.read())
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}", EXIT_USAGE) from exc
    gateway = Gateway(settings)
    # A pairwise verdict file has `judgments`; a rubric score file has `scores`.
    pairwise = isinstance(body, dict) and "judgments" in body
    route = "pair-scores" if pairwise else "scores"
    answer = gateway.call("POST", f"/api/bench/judge/{args.experiment}/{route}", body)
    what = "pairwise verdicts" if pairwise else "scores"
    print(f"accepted {answer['n_scores']} {what} (submission {answer['submission_id']})")
    if args.no_wait:
        return EXIT_OK
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        status = gateway.call("GET", answer["status_url"])
        if status["status"] == "ingested":
            print("ingested: the leaderboard is being rebuilt")
            return EXIT_OK
        if status["status"] == "failed":
            raise CliError(f"ingestion failed: {status['error']}", EXIT_FAILED_CELLS)
        time.sleep(0.5)
    raise CliError(
        f"not ingested after {args.timeout:.0f} s (is the judge_bridge running?)", EXIT_UNREACHABLE
    )


def register(sub: Subcommands) -> None:
    """Add `judge export`, `judge import` and `judge run`."""
    judge_sub = add_group(sub, "judge", help="export blind packets, import score files")
    export = judge_sub.add_parser("export", help="write an experiment's blind judge packet")
    export.add_argument("experiment")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.add_argument("--judge", help="a packet of this judge's unscored runs")
    export.add_argument(
        "--pairwise",
        action="store_true",
        help="a pair packet for --judge: two answers per scenario, answer a, b or tie",
    )
    export.add_argument("--n-pairs", type=int, help="pairs in a new pair packet")
    bind_command(export, cmd_judge_export)
    ingest = judge_sub.add_parser(
        "import", help="submit a judge's score file or pairwise verdict file"
    )
    ingest.add_argument("experiment")
    ingest.add_argument("file")
    ingest.add_argument("--no-wait", action="store_true", help="do not wait for ingestion")
    ingest.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait (default 120)"
    )
    bind_command(ingest, cmd_judge_import)
    register_judge_run(judge_sub)
