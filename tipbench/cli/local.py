"""`tipbench up|down|demo`: the local stack, and a first benchmark on it."""

from __future__ import annotations

import argparse

import httpx

from shared.model_names import DEFAULT_GGUF_MODEL, parse_parameter_size
from shared.settings import Settings
from tipbench import stack
from tipbench.cli.client import EXIT_OK, Gateway
from tipbench.cli.request import add_request_flags, given_flags
from tipbench.cli.runs import submit

DEMO_EXPERIMENT = "demo"


def ollama_models(settings: Settings, max_b: float = 4.0) -> list[str]:
    """Up to two models of at most max_b billion parameters from a local Ollama, if it answers."""
    try:
        tags = httpx.get(f"{settings.ollama_host}/api/tags", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return []
    small = [
        m["name"]
        for m in tags.get("models", [])
        if (parse_parameter_size(m.get("details", {}).get("parameter_size", "")) or 1e9) <= max_b
    ]
    return small[:2]


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
    """Start the stack, then run every prompt version of the default suite on small models."""
    stack.up(settings)
    models = ollama_models(settings) or [DEFAULT_GGUF_MODEL]
    print(f"models: {', '.join(models)}")
    body = given_flags(args) | {"models": models}
    code = submit(Gateway(settings), body, follow=True)
    experiment = body["experiment"]
    print(f"gateway: http://{settings.gateway_host}:{settings.gateway_port}")
    print(
        f"admin:   http://{settings.gateway_host}:{settings.gateway_port}/admin/"
        f"experiments/{experiment}  (log in with the admin token)"
    )
    print(f"mlflow:  {settings.mlflow_uri}  (experiment tip-bench-{experiment})")
    return code


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `up`, `down` and `demo`."""
    up = sub.add_parser("up", help="start the local stack (MLflow, gateway, workers)")
    up.add_argument("--reporters", type=int, default=1, help="reporter processes (default 1)")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop what `up` started").set_defaults(func=cmd_down)
    demo = sub.add_parser(
        "demo",
        help="start the stack and run a small benchmark",
        description="Start the stack, then run every prompt version of the default suite on up"
        " to two small Ollama models (else the embedded model) and show the leaderboard.",
    )
    add_request_flags(
        demo,
        leave_out=("suite", "models", "prompts"),
        own_defaults={"experiment": DEMO_EXPERIMENT},
    )
    demo.set_defaults(func=cmd_demo)
