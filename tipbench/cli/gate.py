"""`tipbench run -c FILE --gate`: wait for the judge, then hold the run file's gate.

The conditions and their evaluation live in `shared/gate.py`; here the CLI fetches what
they need (the job, the judged leaderboard, the comparisons with must_beat's row).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from shared.compare import row_name
from shared.contracts import Leaderboard, RowDifference
from shared.errors import RowNotFound
from shared.gate import Gate, evaluate
from shared.model_names import LLM_JUDGE_PREFIX
from tipbench.cli.client import EXIT_OK, EXIT_USAGE, CliError, Gateway
from tipbench.cli.judged import wait_judged

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
    return LLM_JUDGE_PREFIX + str(judge).removeprefix(
        LLM_JUDGE_PREFIX
    )  # the gateway accepts it either way


def judged_board(
    gateway: Gateway, experiment: str, judge_id: str, n_runs: int, timeout_s: float
) -> Leaderboard:
    """The experiment's leaderboard once the judge has scored (or given up on) all n_runs
    runs; CliError (exit 1) naming what is unscored after `timeout_s`."""
    board, complete = wait_judged(gateway, experiment, judge_id, n_runs, timeout_s)
    if not complete:
        waiting = [
            f"  {row_name(r['model'], r['prompt_version'])}: {r['n_scored']}/{r['n']} scored"
            for r in (board["rows"] if board else [])
        ]
        raise CliError(
            f"gate: {judge_id} has not scored every run after {timeout_s:.0f} s; the gate"
            " does not hold (a slow judge: raise --gate-timeout)",
            EXIT_GATE_FAILED,
            waiting or ["  no leaderboard yet"],
        )
    # the gate's own judge's view (not the primary, which may be another judge's scores)
    query = urlencode({"judge": judge_id})
    return Leaderboard.model_validate(
        gateway.call("GET", f"/api/bench/leaderboard/{experiment}?{query}")
    )


def hold(
    gateway: Gateway, gate: Gate, experiment: str, board: Leaderboard, failed: int, judge_id: str
) -> int:
    """Print one line per condition; EXIT_OK when all pass, EXIT_GATE_FAILED otherwise."""
    beats: dict[str, RowDifference] = {}
    try:
        rows = gate.gated_rows(board)
    except RowNotFound as exc:  # the run file could not tell: it left `prompts` to the suite
        raise CliError(str(exc), EXIT_USAGE) from None
    if gate.must_beat:
        for row in rows:
            name = row_name(row.model, row.prompt_version)
            if name == gate.must_beat.row:
                continue
            query = {
                "a": experiment,
                "b": experiment,
                "row_a": name,
                "row_b": gate.must_beat.row,
                "judge": judge_id,  # the same scores the other conditions read
            }
            found = gateway.call("GET", f"/api/bench/compare?{urlencode(query)}")
            beats[name] = RowDifference.model_validate(found["rows"][0])
    checks = evaluate(gate, board, failed, beats)
    for check in checks:
        print(check.line())
    passed = all(check.passed for check in checks)
    print(f"gate {'passed' if passed else 'FAILED'}: {sum(c.passed for c in checks)}/{len(checks)}")
    return EXIT_OK if passed else EXIT_GATE_FAILED
