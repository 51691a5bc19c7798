"""`tipbench run -c FILE --gate`: wait for the judge, then hold the run file's gate.

The conditions and their evaluation live in `shared/gate.py`; here the CLI fetches what
they need (the job, the judged leaderboard, the comparisons with must_beat's row).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from shared.compare import row_name
from shared.contracts import Leaderboard
from shared.contracts.comparisons import RowDifference
from shared.gate import Gate, evaluate
from tipbench.cli.client import EXIT_OK, EXIT_USAGE, CliError, Gateway

EXIT_GATE_FAILED = 1
GATE_TIMEOUT_S = 1800.0  # an LLM judge on CPU takes seconds per item


def judge_of(body: dict[str, Any]) -> str:
    """The id of the request's LLM judge (`llm:MODEL`, as its scores are recorded); CliError
    (exit 2, nothing sent) when the request names none."""
    judge = body.get("judge")
    if not judge:
        raise CliError(
            "--gate needs judged scores, and no judge is configured: name an LLM judge in the"
            " run file (judge: llm:MODEL) or with --judge llm:MODEL",
            EXIT_USAGE,
        )
    return "llm:" + str(judge).removeprefix("llm:")  # the gateway accepts it either way


def _unscored(board: dict[str, Any], failures: int) -> int:
    """Runs neither scored nor given up on by the judge."""
    return sum(int(r["n"]) - int(r["n_scored"]) for r in board["rows"]) - failures


def wait_judged(
    gateway: Gateway, experiment: str, job: dict[str, Any], judge_id: str, timeout_s: float
) -> Leaderboard:
    """The leaderboard once every run of the job is scored (or failed by the judge); a
    CliError (exit 1) naming what is missing after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    ended_at = job["finished_at"] or 0.0
    while True:
        board = _board(gateway, experiment)
        failed = [
            f
            for f in gateway.call("GET", f"/api/bench/judge/{experiment}/failures")
            if f["judge_id"] == judge_id
        ]
        if board and board["built_at"] >= ended_at and board["n_runs"] >= job["done"]:
            if _unscored(board, len(failed)) <= 0:
                if failed:
                    print(f"the judge could not score {len(failed)} run(s): see its failures")
                return Leaderboard.model_validate(board)
        if time.monotonic() > deadline:
            rows = board["rows"] if board else []
            waiting = [
                f"{row_name(r['model'], r['prompt_version'])}: {r['n_scored']}/{r['n']} scored"
                for r in rows
            ] or ["no leaderboard yet"]
            raise CliError(
                f"gate: the judge has not scored every run after {timeout_s:.0f} s"
                " (raise --gate-timeout)",
                EXIT_GATE_FAILED,
                [f"  {line}" for line in waiting],
            )
        time.sleep(1.0)


def _board(gateway: Gateway, experiment: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = gateway.call("GET", f"/api/bench/leaderboard/{experiment}")
    except CliError as exc:
        if " 404 " in str(exc):
            return None  # no rebuild stored one yet
        raise
    return found


def hold(gateway: Gateway, gate: Gate, experiment: str, board: Leaderboard, failed: int) -> int:
    """Print one line per condition; EXIT_OK when all pass, EXIT_GATE_FAILED otherwise."""
    beats: dict[str, RowDifference] = {}
    if gate.must_beat:
        for row in gate.gated_rows(board):
            name = row_name(row.model, row.prompt_version)
            if name == gate.must_beat.row:
                continue
            query = {"a": experiment, "b": experiment, "row_a": name, "row_b": gate.must_beat.row}
            found = gateway.call("GET", f"/api/bench/compare?{urlencode(query)}")
            beats[name] = RowDifference.model_validate(found["rows"][0])
    checks = evaluate(gate, board, failed, beats)
    for check in checks:
        print(check.line())
    passed = all(check.passed for check in checks)
    print(f"gate {'passed' if passed else 'FAILED'}: {sum(c.passed for c in checks)}/{len(checks)}")
    return EXIT_OK if passed else EXIT_GATE_FAILED
