"""Commands that act on what exists: experiments, a job's retry and cancel, a suite's
prompt versions, and an LLM judging asked for after the fact."""

from __future__ import annotations

import argparse
import json

from shared.settings import Settings
from tipbench.cli.client import Gateway
from tipbench.cli.display import print_table, when
from tipbench.cli.suites import suite_document

DEFAULT_SUITE = "tip-v1"


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


def cmd_experiments(settings: Settings, args: argparse.Namespace) -> int:
    """Every experiment, newest first."""
    found = Gateway(settings).call("GET", "/api/bench/experiments")
    found.sort(key=lambda e: e["created_at"], reverse=True)
    if args.json:
        _print_json(found)
    elif not found:
        print("no experiment yet: tipbench run --experiment NAME starts one")
    else:
        rows = [[e["experiment"], e["mlflow_experiment"], when(e["created_at"])] for e in found]
        print_table([["EXPERIMENT", "MLFLOW", "CREATED"], *rows])
    return 0


def cmd_retry(settings: Settings, args: argparse.Namespace) -> int:
    """Put a job's failed cells back in the queue."""
    answer = Gateway(settings).call("POST", f"/api/bench/jobs/{args.job_id}/retry")
    if args.json:
        _print_json(answer)
    elif answer["retried"]:
        print(f"job {args.job_id}: {len(answer['retried'])} failed cells queued again")
        print(f"  follow it: tipbench status {args.job_id}")
    else:
        print(f"job {args.job_id}: no failed cell to retry")
    return 0


def cmd_cancel(settings: Settings, args: argparse.Namespace) -> int:
    """Cancel a job: its waiting cells are skipped, the one generating ends."""
    job = Gateway(settings).call("POST", f"/api/bench/jobs/{args.job_id}/cancel")
    if args.json:
        _print_json(job)
    else:
        print(f"job {args.job_id}: {job['status']} ({job['done']} of {job['total']} cells done)")
    return 0


def cmd_prompts(settings: Settings, args: argparse.Namespace) -> int:
    """A stored suite's prompt versions: what `--prompts` accepts."""
    document, _ = suite_document(Gateway(settings), args.suite)
    prompts = document["suite"]["prompts"]
    if args.json:
        _print_json(prompts)
        return 0
    record = document["record"]
    print(f"suite {record['suite']}@{record['version']}: {len(prompts)} prompt versions")
    rows = [[p["version"], p.get("description") or ""] for p in prompts]
    print_table([["PROMPT", "DESCRIPTION"], *rows])
    return 0


def cmd_judge_run(settings: Settings, args: argparse.Namespace) -> int:
    """Let an LLM judge score the runs of an experiment it has not scored yet."""
    model = args.model.removeprefix("llm:")
    body = {"model": model}
    answer = Gateway(settings).call("POST", f"/api/bench/judge/{args.experiment}/run", body)
    if args.json:
        _print_json(answer)
    else:
        print(f"{answer['judge_id']} is scoring {args.experiment}'s unscored runs")
        print(f"  then: tipbench leaderboard {args.experiment}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `experiments`, `retry`, `cancel` and `prompts`."""
    experiments = sub.add_parser("experiments", help="every experiment, newest first")
    experiments.add_argument("--json", action="store_true", help="print the raw JSON")
    experiments.set_defaults(func=cmd_experiments)
    retry = sub.add_parser(
        "retry", help="queue a job's failed cells again", epilog="E.g. tipbench retry 3f2a..."
    )
    retry.add_argument("job_id")
    retry.add_argument("--json", action="store_true", help="print the raw JSON")
    retry.set_defaults(func=cmd_retry)
    cancel = sub.add_parser("cancel", help="cancel a job (its waiting cells are skipped)")
    cancel.add_argument("job_id")
    cancel.add_argument("--json", action="store_true", help="print the raw JSON")
    cancel.set_defaults(func=cmd_cancel)
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
    prompts.add_argument("--json", action="store_true", help="print the raw JSON")
    prompts.set_defaults(func=cmd_prompts)


def register_judge_run(judge_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    run.add_argument("--json", action="store_true", help="print the raw JSON")
    run.set_defaults(func=cmd_judge_run)
