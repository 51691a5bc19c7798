"""Commands that act on what exists: experiments, a job's retry and cancel, a suite's
prompt versions, and an LLM judging asked for after the fact."""

from __future__ import annotations

import argparse

from shared.model_names import LLM_JUDGE_PREFIX
from shared.settings import Settings
from tipbench.cli.client import Gateway
from tipbench.cli.command import RAW_JSON, Subcommands, bind_command, json_printed
from tipbench.cli.display import print_table, when
from tipbench.cli.suites import suite_document

DEFAULT_SUITE = "tip-v1"


def cmd_experiments(settings: Settings, args: argparse.Namespace) -> int:
    """Every experiment, newest first."""
    found = Gateway(settings).call("GET", "/api/bench/experiments")
    found.sort(key=lambda e: e["created_at"], reverse=True)
    if json_printed(args, found):
        return 0
    if not found:
        print("no experiment yet: tipbench run --experiment NAME starts one")
    else:
        rows = [[e["experiment"], e["mlflow_experiment"], when(e["created_at"])] for e in found]
        print_table([["EXPERIMENT", "MLFLOW", "CREATED"], *rows])
    return 0


def cmd_retry(settings: Settings, args: argparse.Namespace) -> int:
    """Put a job's failed cells back in the queue."""
    answer = Gateway(settings).call("POST", f"/api/bench/jobs/{args.job_id}/retry")
    if json_printed(args, answer):
        return 0
    if answer["retried"]:
        print(f"job {args.job_id}: {len(answer['retried'])} failed cells queued again")
        print(f"  follow it: tipbench status {args.job_id}")
    else:
        print(f"job {args.job_id}: no failed cell to retry")
    return 0


def cmd_cancel(settings: Settings, args: argparse.Namespace) -> int:
    """Cancel a job: its waiting cells are skipped, the one generating ends."""
    job = Gateway(settings).call("POST", f"/api/bench/jobs/{args.job_id}/cancel")
    if not json_printed(args, job):
        print(f"job {args.job_id}: {job['status']} ({job['done']} of {job['total']} cells done)")
    return 0


def cmd_prompts(settings: Settings, args: argparse.Namespace) -> int:
    """A stored suite's prompt versions: what `--prompts` accepts."""
    document, _ = suite_document(Gateway(settings), args.suite)
    prompts = document["suite"]["prompts"]
    if json_printed(args, prompts):
        return 0
    record = document["record"]
    print(f"suite {record['suite']}@{record['version']}: {len(prompts)} prompt versions")
    rows = [[p["version"], p.get("description") or ""] for p in prompts]
    print_table([["PROMPT", "DESCRIPTION"], *rows])
    return 0


def cmd_judge_run(settings: Settings, args: argparse.Namespace) -> int:
    """Let an LLM judge score the runs of an experiment it has not scored yet."""
    model = args.model.removeprefix(LLM_JUDGE_PREFIX)
    body = {"model": model}
    answer = Gateway(settings).call("POST", f"/api/bench/judge/{args.experiment}/run", body)
    if not json_printed(args, answer):
        print(f"{answer['judge_id']} is scoring {args.experiment}'s unscored runs")
        print(f"  then: tipbench leaderboard {args.experiment}")
    return 0


def register(sub: Subcommands) -> None:
    """Add `experiments`, `retry`, `cancel` and `prompts`."""
    experiments = sub.add_parser("experiments", help="every experiment, newest first")
    bind_command(experiments, cmd_experiments, json_help=RAW_JSON)
    retry = sub.add_parser(
        "retry", help="queue a job's failed cells again", epilog="E.g. tipbench retry 3f2a..."
    )
    retry.add_argument("job_id")
    bind_command(retry, cmd_retry, json_help=RAW_JSON)
    cancel = sub.add_parser("cancel", help="cancel a job (its waiting cells are skipped)")
    cancel.add_argument("job_id")
    bind_command(cancel, cmd_cancel, json_help=RAW_JSON)
    prompts = sub.add_parser(
        "prompts",
        help="a stored suite's prompt versions",
        epilog="E.g. tipbench prompts --suite tip-v2, tipbench prompts --suite mine@3f2a9c1b04de",
    )
    prompts.add_argument(
        "--suite",
        default=DEFAULT_SUITE,
        help=f"name (its newest version) or name@version; default: {DEFAULT_SUITE}",
    )
    bind_command(prompts, cmd_prompts, json_help=RAW_JSON)


def register_judge_run(judge_sub: Subcommands) -> None:
    """Add `judge run` to the `judge` command."""
    run = judge_sub.add_parser(
        "run",
        help="let an LLM judge score the runs it has not scored",
        epilog="E.g. tipbench judge run study --model qwen2.5:7b",
    )
    run.add_argument("experiment")
    run.add_argument(
        "--model",
        required=True,
        help="the judge: an Ollama model, openai:<name> or gguf:<name> (llm: prefix optional)",
    )
    bind_command(run, cmd_judge_run, json_help=RAW_JSON)
