"""`tipbench run|jobs|status|leaderboard`: submit a benchmark, follow it, read its results."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from shared.gate import Gate
from shared.settings import Settings
from tipbench.cli.client import EXIT_FAILED_CELLS, EXIT_OK, EXIT_USAGE, CliError, Gateway
from tipbench.cli.command import RAW_JSON, Subcommands, bind_command, json_printed
from tipbench.cli.display import print_leaderboard, print_table, progress_lines, watch, when
from tipbench.cli.gate import EXIT_GATE_FAILED, GATE_TIMEOUT_S, hold, judge_of, judged_board
from tipbench.cli.judged import judge_view
from tipbench.cli.request import (
    add_request_flags,
    contract_default,
    given_flags,
    read_run_file,
    request_body,
    run_file_sample,
)
from tipbench.cli.suites import suite_for_run


def wait_leaderboard(
    gateway: Gateway, experiment: str, ended_at: float, timeout_s: float = 60.0
) -> Any:
    """The experiment's leaderboard once a rebuild made after `ended_at` (the job's end)
    has stored it: one that counts every run of the job."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            board = gateway.call("GET", f"/api/bench/leaderboard/{experiment}")
            if board["built_at"] >= ended_at or time.monotonic() > deadline:
                return board
        except CliError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


@dataclass(frozen=True)
class GateRun:
    """A gate to hold once the job is judged, by which judge, waiting how long at most."""

    gate: Gate
    judge_id: str
    timeout_s: float


def submit(
    gateway: Gateway, body: dict[str, Any], *, follow: bool, gate: GateRun | None = None
) -> int:
    """Submit a bench request; if `follow`, show its progress, then the leaderboard; with a
    gate, wait for the judge and hold the gate (its exit code)."""
    before = None
    if gate is not None:  # the experiment's runs so far: the judge must score this job's too
        before = judge_view(
            gateway, body.get("experiment") or contract_default("experiment"), gate.judge_id
        )
    submitted = gateway.call("POST", "/api/bench/run", body)
    print(
        f"job {submitted['job_id']}: {submitted['cells']} cells in {submitted['mlflow_experiment']}"
    )
    if not follow and gate is None:
        return EXIT_OK
    job = watch(gateway, submitted["job_id"])
    experiment = submitted["experiment"]
    if gate is None:
        board = wait_leaderboard(gateway, experiment, job["finished_at"] or 0.0)
        print_leaderboard(board, run_names(gateway, board))
        print_failures(job)
        return EXIT_FAILED_CELLS if job["failed"] else EXIT_OK
    print_failures(job)
    if not job["done"]:
        raise CliError(
            "gate: no cell of the job finished; there is nothing to judge", EXIT_GATE_FAILED
        )
    print(f"waiting for {gate.judge_id} to score every run (at most {gate.timeout_s:.0f} s)")
    n_runs = (before["n_runs"] if before else 0) + job["done"]
    board = judged_board(gateway, experiment, gate.judge_id, n_runs, gate.timeout_s)
    shown = board.model_dump()
    print_leaderboard(shown, run_names(gateway, shown))
    return hold(gateway, gate.gate, experiment, board, job["failed"], gate.judge_id)


def print_failures(job: dict[str, Any]) -> None:
    """One line per failed cell: model, prompt, scenario (and repeat), then why."""
    for f in job.get("failures", []):
        sample = f" (repeat {f['repeat']})" if f["repeat"] else ""
        print(
            f"failed cell {f['model']} | {f['prompt_version']} | {f['scenario_id']}{sample}:"
            f" {f['error']}"
        )


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Submit the run file's request with the flags over it; a suite file is pushed first."""
    run_file = read_run_file(Path(args.config)) if args.config else None
    flags = given_flags(args)
    body = request_body(flags, run_file.values if run_file else {})
    gate = None
    if args.gate:  # checked before anything is sent
        if run_file is None or run_file.gate is None:
            raise CliError("--gate: the run file has no gate: key (see docs/ci.md)", EXIT_USAGE)
        gate = GateRun(run_file.gate, judge_of(body), args.gate_timeout)
    gateway = Gateway(settings)
    if "suite" in body:
        # a relative suite path is the run file's if the file named it, else the shell's
        folder = run_file.folder if run_file and "suite" not in flags else Path()
        body["suite"] = suite_for_run(gateway, body["suite"], folder)
    return submit(gateway, body, follow=args.watch, gate=gate)


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    """Recent jobs, newest first."""
    jobs: list[dict[str, Any]] = Gateway(settings).call("GET", "/api/bench/jobs")
    if json_printed(args, jobs):
        return EXIT_OK
    if not jobs:
        print("no jobs yet: submit one with `tipbench run`")
        return EXIT_OK
    rows = [["job", "experiment", "status", "cells", "failed", "submitted"]]
    rows += [
        [
            j["job_id"],
            j["experiment"],
            j["status"],
            f"{j['done'] + j['failed']}/{j['total']}",
            str(j["failed"]),
            when(j["created_at"]),
        ]
        for j in jobs
    ]
    print_table(rows)
    return EXIT_OK


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    """A job's progress per model and its failed cells."""
    job = Gateway(settings).call("GET", f"/api/bench/jobs/{args.job_id}")
    if not json_printed(args, job):
        print(f"job {job['job_id']} in {job['experiment']}, submitted {when(job['created_at'])}")
        print("\n".join(progress_lines(job)))
        print_failures(job)
    return EXIT_FAILED_CELLS if job["failed"] else EXIT_OK


def cmd_leaderboard(settings: Settings, args: argparse.Namespace) -> int:
    """An experiment's leaderboard as a table, JSON or CSV."""
    query = {"judge": args.judge} if args.judge else {}
    gateway = Gateway(settings)
    path = f"/api/bench/leaderboard/{args.experiment}"
    if args.csv:
        sys.stdout.write(
            gateway.call("GET", f"{path}?{urlencode(query | {'format': 'csv'})}", text=True)
        )
        return EXIT_OK
    board = gateway.call("GET", f"{path}?{urlencode(query)}" if query else path)
    if not json_printed(args, board):
        print_leaderboard(board, run_names(gateway, board))
    return EXIT_OK


def run_names(gateway: Gateway, board: dict[str, Any]) -> dict[str, str]:
    """Run id -> `model | prompt | scenario` for the runs the judges disagree on (none
    asked for when they agree)."""
    if not board["agreement"]["disagreements"]:
        return {}
    runs = gateway.call("GET", f"/api/bench/runs/{board['experiment']}")
    return {
        r["run_id"]: " | ".join(
            r["params"].get(k, "?") for k in ("model", "prompt_version", "scenario_id")
        )
        for r in runs
    }


def register(sub: Subcommands) -> None:
    """Add `run`, `jobs`, `status` and `leaderboard`."""
    run = sub.add_parser(
        "run",
        help="submit a benchmark through the gateway",
        description="Submit models x prompt versions x scenarios of a suite.\n"
        "A flag left out is not sent: the gateway applies the default shown.",
        epilog=run_file_sample(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("-c", "--config", metavar="FILE", help="a run file (see below)")
    add_request_flags(run)
    run.add_argument("--watch", action="store_true", help="show progress, then the leaderboard")
    run.add_argument(
        "--gate",
        action="store_true",
        help="wait for the LLM judge, then check the run file's gate: exit 0 when every"
        " condition holds, 1 otherwise (docs/ci.md)",
    )
    run.add_argument(
        "--gate-timeout",
        type=float,
        default=GATE_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait for the judge's scores (default {GATE_TIMEOUT_S:.0f})",
    )
    bind_command(run, cmd_run)
    jobs = sub.add_parser("jobs", help="recent jobs, newest first")
    bind_command(jobs, cmd_jobs, json_help=RAW_JSON)
    status = sub.add_parser("status", help="a job's progress per model and its failed cells")
    status.add_argument("job_id")
    bind_command(status, cmd_status, json_help=RAW_JSON)
    board = sub.add_parser("leaderboard", help="an experiment's leaderboard")
    board.add_argument("experiment")
    form = board.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print the JSON document")
    form.add_argument("--csv", action="store_true", help="print the rows as CSV")
    board.add_argument("--judge", help="panel, or one judge's view (default: primary)")
    bind_command(board, cmd_leaderboard)
