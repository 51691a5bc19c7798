"""Waiting for an LLM judge: the judge's own view of the leaderboard until it is complete
(used by `tipbench demo` and `tipbench run --gate`)."""

from __future__ import annotations

import sys
import time
from typing import Any
from urllib.parse import quote

from tipbench.cli.client import CliError, Gateway


def judge_view(gateway: Gateway, experiment: str, judge_id: str) -> dict[str, Any] | None:
    """The experiment's leaderboard as one judge sees it; None until it exists."""
    try:
        board: dict[str, Any] = gateway.call(
            "GET", f"/api/bench/leaderboard/{experiment}?judge={quote(judge_id, safe='')}"
        )
    except CliError:
        return None
    return board


def wait_judged(
    gateway: Gateway, experiment: str, judge_id: str, n_runs: int, timeout_s: float
) -> tuple[dict[str, Any] | None, bool]:
    """The judge's leaderboard once it covers n_runs runs and the judge has scored (or given
    up on) every one, showing progress meanwhile, and True; after timeout_s, the latest one
    and False."""
    tty = sys.stdout.isatty()
    started = time.monotonic()
    board, shown, complete = None, "", False
    while True:
        board = judge_view(gateway, experiment, judge_id) or board
        failures = gateway.call("GET", f"/api/bench/judge/{experiment}/failures")
        failed = sum(1 for f in failures if f["judge_id"] == judge_id)
        rows = board["rows"] if board else []
        total = sum(r["n"] for r in rows)
        scored = sum(r["n_scored"] for r in rows)
        elapsed = time.monotonic() - started
        line = f"judge {judge_id}: {scored}/{max(total, n_runs)} runs scored"
        line += f", {failed} failed" if failed else ""
        if tty:
            sys.stdout.write(f"\r{line}, {elapsed:.0f}s\x1b[K")
        elif line != shown:
            sys.stdout.write(f"{line}, {elapsed:.0f}s\n")
        sys.stdout.flush()
        shown = line
        covered = board is not None and board["n_runs"] >= n_runs
        if covered and scored + failed >= total:
            complete = True
            break
        if elapsed > timeout_s:
            break
        time.sleep(1.0)
    if tty:
        sys.stdout.write("\n")
    return board, complete
