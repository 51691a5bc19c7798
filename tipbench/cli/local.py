"""`tipbench up|down|demo`: the local stack, and a first benchmark on it."""

from __future__ import annotations

import argparse
from typing import Any

import httpx

from shared.errors import ModelSizeUnknown, ModelTooLarge
from shared.model_names import (
    DEFAULT_GGUF_MODEL,
    LLM_JUDGE_PREFIX,
    check_size,
    parse_parameter_size,
)
from shared.settings import Settings
from tipbench import stack
from tipbench.cli.client import EXIT_FAILED_CELLS, EXIT_OK, Gateway
from tipbench.cli.command import Subcommands, bind_command
from tipbench.cli.display import print_leaderboard, watch
from tipbench.cli.judged import judge_view, wait_judged
from tipbench.cli.request import add_request_flags, contract_default, given_flags
from tipbench.cli.runs import print_failures, run_names

DEMO_EXPERIMENT = "demo"
DEMO_JUDGE = f"{LLM_JUDGE_PREFIX}{DEFAULT_GGUF_MODEL}"
SMALL_JUDGE_NOTE = (
    "A 135M-parameter judge demonstrates the pipeline, not quality: judge with a person"
    " (tipbench judge export) or a larger LLM judge before trusting the ranking."
)
# The embedded judge takes a few seconds a run on 2 busy cores; this leaves it ample room.
JUDGE_WAIT_S_PER_RUN = 30.0
JUDGE_WAIT_MIN_S = 600.0


def ollama_models(settings: Settings) -> list[str]:
    """Up to two models of a local Ollama, if it answers, that a default request allows (of
    known size, within its max_model_b)."""
    try:
        tags = httpx.get(f"{settings.ollama_host}/api/tags", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return []
    return [m["name"] for m in tags.get("models", []) if _allowed(m)][:2]


def _allowed(model: dict[str, Any]) -> bool:
    size = parse_parameter_size(model.get("details", {}).get("parameter_size", ""))
    try:
        check_size(model["name"], size, contract_default("max_model_b"), allow_unknown=False)
    except (ModelTooLarge, ModelSizeUnknown):
        return False
    return True


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    """Start the local stack."""
    started = stack.up(settings, reporters=args.reporters)
    print(f"started: {', '.join(started) or 'nothing (already running)'}")
    print(
        f"gateway: http://{settings.gateway_host}:{settings.gateway_port}"
        f"  (admin pages: /admin/, API: /api/docs)"
    )
    print(f"mlflow:  {settings.mlflow_uri}")
    return EXIT_OK


def cmd_down(settings: Settings, args: argparse.Namespace) -> int:
    """Stop what `up` started."""
    stopped = stack.down(settings)
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return EXIT_OK


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Start the stack, run every prompt version of the default suite on small models, wait
    for the judge, then show the leaderboard."""
    stack.up(settings)
    models = ollama_models(settings) or [DEFAULT_GGUF_MODEL]
    print(f"models: {', '.join(models)}")
    body = given_flags(args) | {"models": models}
    experiment, judge_id = body["experiment"], body["judge"]
    gateway = Gateway(settings)
    before = judge_view(gateway, experiment, judge_id)  # a demo run again adds to its runs
    submitted = gateway.call("POST", "/api/bench/run", body)
    print(
        f"job {submitted['job_id']}: {submitted['cells']} cells in {submitted['mlflow_experiment']}"
    )
    job = watch(gateway, submitted["job_id"])
    n_runs = (before["n_runs"] if before else 0) + job["done"]
    timeout_s = max(JUDGE_WAIT_MIN_S, JUDGE_WAIT_S_PER_RUN * job["done"])
    board = None
    if job["done"]:
        board, complete = wait_judged(gateway, experiment, judge_id, n_runs, timeout_s)
        if not complete:
            print(f"the judge is still at work after {timeout_s:.0f}s; this is the latest board")
    if board is not None:
        print_leaderboard(board, run_names(gateway, board))
    print_failures(job)
    if judge_id == DEMO_JUDGE:
        print(SMALL_JUDGE_NOTE)
    print(f"gateway: http://{settings.gateway_host}:{settings.gateway_port}")
    print(
        f"admin:   http://{settings.gateway_host}:{settings.gateway_port}/admin/"
        f"experiments/{experiment}  (log in with the admin token)"
    )
    print(f"mlflow:  {settings.mlflow_uri}  (experiment tip-bench-{experiment})")
    return EXIT_FAILED_CELLS if job["failed"] else EXIT_OK


def register(sub: Subcommands) -> None:
    """Add `up`, `down` and `demo`."""
    up = sub.add_parser("up", help="start the local stack (MLflow, gateway, workers)")
    up.add_argument("--reporters", type=int, default=1, help="reporter processes (default 1)")
    bind_command(up, cmd_up)
    bind_command(sub.add_parser("down", help="stop what `up` started"), cmd_down)
    demo = sub.add_parser(
        "demo",
        help="start the stack and run a small benchmark",
        description="Start the stack, then run every prompt version of the default suite on up"
        " to two small Ollama models (else the embedded model), let the embedded LLM judge"
        " score every run, and show the ranked leaderboard.",
    )
    add_request_flags(
        demo,
        leave_out=("suite", "models", "prompts"),
        own_defaults={"experiment": DEMO_EXPERIMENT, "judge": DEMO_JUDGE},
    )
    bind_command(demo, cmd_demo)
