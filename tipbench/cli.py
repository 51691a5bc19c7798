"""`tipbench`: run the local stack and talk to the gateway from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import httpx
from pydantic import ValidationError

from shared.models import parse_parameter_size
from shared.settings import Settings
from tipbench import stack

EXIT_OK, EXIT_FAILED_CELLS, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEMO_PROMPTS = ["v1", "v2-mentor", "v3-few-shot"]


class CliError(Exception):
    """Raised to end the command with one clear line and an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Gateway:
    """A small client of the gateway's HTTP API."""

    def __init__(self, settings: Settings) -> None:
        self.base = f"http://{settings.gateway_host}:{settings.gateway_port}"
        token = settings.admin_token.get_secret_value()
        self._http = httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send a request; CliError with the gateway's message on any refusal."""
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise CliError(f"gateway unreachable at {self.base}: {exc}", EXIT_UNREACHABLE) from exc
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise CliError(f"{method} {path}: {response.status_code} {message}", EXIT_USAGE)
        return response.json()


def _bar(done: int, failed: int, total: int, width: int = 30) -> str:
    filled = int(width * (done + failed) / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def watch(gateway: Gateway, job_id: str, *, poll_s: float = 1.0) -> dict[str, Any]:
    """Show a progress bar until the job ends; returns the final job status."""
    started = time.monotonic()
    tty = sys.stdout.isatty()
    shown: tuple[Any, ...] = ()
    while True:
        job: dict[str, Any] = gateway.call("GET", f"/api/bench/jobs/{job_id}")
        done, failed, total = job["done"], job["failed"], job["total"]
        state = (done, failed, job.get("current_model"), job["status"])
        if tty or state != shown:  # a log file gets one line per change, not per poll
            elapsed = time.monotonic() - started
            finished = done + failed
            eta = f"{elapsed / finished * (total - finished):.0f}s" if finished else "?"
            line = (
                f"{_bar(done, failed, total)} {finished}/{total} cells ({failed} failed)"
                f" {job.get('current_model') or ''} eta {eta}"
            )
            sys.stdout.write(f"\r{line}   " if tty else f"{line}\n")
            sys.stdout.flush()
            shown = state
        if job["status"] in ("finished", "partial", "failed"):
            if tty:
                sys.stdout.write("\n")
            return job
        time.sleep(poll_s)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_leaderboard(board: dict[str, Any]) -> None:
    """The leaderboard as a text table."""
    header = ["rank", "model", "prompt", "n", "scored", "composite", "95% CI", "p_holm",
              "format_ok", "overlong", "latency_s", "tok/s"]  # fmt: skip
    rows = [
        [_fmt(r["rank"]), r["model"], r["prompt_version"], str(r["n"]), str(r["n_scored"]),
         _fmt(r["mean_composite"]),
         f"{_fmt(r['ci_low'])}-{_fmt(r['ci_high'])}" if r["ci_low"] is not None else "-",
         _fmt(r["p_holm"], 3), _fmt(r["format_ok_rate"]), _fmt(r["overlong_rate"]),
         _fmt(r["mean_latency_s"]), _fmt(r["mean_tokens_per_s"], 1)]
        for r in board["rows"]
    ]  # fmt: skip
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    if any(r["awaiting_judge"] for r in board["rows"]):
        print("(rows without a composite wait for a judge: see `tipbench packet`)")
    print("(rows whose 95% CIs overlap share a rank; p_holm: paired test against the leader)")


def wait_leaderboard(
    gateway: Gateway, experiment: str, n_runs: int, timeout_s: float = 60.0
) -> Any:
    """The experiment's leaderboard once it covers n_runs runs."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            board = gateway.call("GET", f"/api/bench/leaderboard/{experiment}")
            if board["n_runs"] >= n_runs or time.monotonic() > deadline:
                return board
        except CliError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


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
    started = stack.up(settings, reporters=args.reporters)
    print(f"started: {', '.join(started) or 'nothing (already running)'}")
    print(f"gateway: http://{settings.gateway_host}:{settings.gateway_port}")
    print(f"mlflow:  {settings.mlflow_uri}")
    return EXIT_OK


def cmd_down(settings: Settings, args: argparse.Namespace) -> int:
    stopped = stack.down(settings)
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return EXIT_OK


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    gateway = Gateway(settings)
    body = {
        "models": args.models,
        "prompts": args.prompts,
        "n_tips": args.n_tips,
        "n_scenarios": args.n_scenarios,
        "temperature": args.temperature,
        "experiment": args.experiment,
        "max_model_b": args.max_model_b,
    }
    submitted = gateway.call("POST", "/api/bench/run", body)
    print(
        f"job {submitted['job_id']}: {submitted['cells']} cells in {submitted['mlflow_experiment']}"
    )
    if not args.watch:
        return EXIT_OK
    job = watch(gateway, submitted["job_id"])
    board = wait_leaderboard(gateway, args.experiment, job["done"])
    print_leaderboard(board)
    for key, error in job["failed_cells"].items():
        print(f"failed cell {key}: {error}")
    return EXIT_FAILED_CELLS if job["failed"] else EXIT_OK


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    stack.up(settings)
    models = ollama_models(settings) or ["gguf:smollm2-135m"]
    print(f"models: {', '.join(models)}")
    args.models, args.prompts, args.watch = models, DEMO_PROMPTS, True
    code = cmd_run(settings, args)
    print(f"gateway: http://{settings.gateway_host}:{settings.gateway_port}")
    print(f"mlflow:  {settings.mlflow_uri}  (experiment tip-bench-{args.experiment})")
    return code


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    job = Gateway(settings).call("GET", f"/api/bench/jobs/{args.job_id}")
    print(json.dumps(job, indent=2))
    return EXIT_FAILED_CELLS if job["failed"] else EXIT_OK


def cmd_leaderboard(settings: Settings, args: argparse.Namespace) -> int:
    board = Gateway(settings).call("GET", f"/api/bench/leaderboard/{args.experiment}")
    if args.json:
        print(json.dumps(board, indent=2))
    else:
        print_leaderboard(board)
    return EXIT_OK


def cmd_packet(settings: Settings, args: argparse.Namespace) -> int:
    query = f"?judge={args.judge}" if args.judge else ""
    packet = Gateway(settings).call("GET", f"/api/bench/judge/{args.experiment}/packet{query}")
    text = json.dumps(packet, indent=2, ensure_ascii=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
        print(f"packet {packet['packet_id']}: {len(packet['items'])} items -> {args.output}")
    else:
        print(text)
    return EXIT_OK


def cmd_scores(settings: Settings, args: argparse.Namespace) -> int:
    try:
        with open(args.file, encoding="utf-8") as handle:
            body = json.load(handle)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}", EXIT_USAGE) from exc
    answer = Gateway(settings).call("POST", f"/api/bench/judge/{args.experiment}/scores", body)
    print(f"accepted {answer['n_scores']} scores (submission {answer['submission_id']})")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="tipbench", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local stack (MLflow, gateway, workers)")
    up.add_argument("--reporters", type=int, default=1, help="reporter processes (default 1)")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop what `up` started").set_defaults(func=cmd_down)
    for name, func, help_text in (
        ("run", cmd_run, "submit a benchmark through the gateway"),
        ("demo", cmd_demo, "start the stack and run a small benchmark"),
    ):
        run = sub.add_parser(name, help=help_text)
        if name == "run":
            run.add_argument("--models", nargs="+", required=True)
            run.add_argument("--prompts", nargs="+", default=["v1"])
            run.add_argument(
                "--watch", action="store_true", help="show progress, then the leaderboard"
            )
        run.add_argument("--n-tips", type=int, default=3)
        run.add_argument("--n-scenarios", type=int, default=2)
        run.add_argument("--temperature", type=float, default=0.7)
        run.add_argument("--max-model-b", type=float, default=4.0, help="size limit, billions")
        run.add_argument("--experiment", default="demo" if name == "demo" else "default")
        run.set_defaults(func=func)
    status = sub.add_parser("status", help="a job's status")
    status.add_argument("job_id")
    status.set_defaults(func=cmd_status)
    board = sub.add_parser("leaderboard", help="an experiment's leaderboard")
    board.add_argument("experiment")
    board.add_argument("--json", action="store_true")
    board.set_defaults(func=cmd_leaderboard)
    packet = sub.add_parser("packet", help="export an experiment's blind judge packet")
    packet.add_argument("experiment")
    packet.add_argument("-o", "--output")
    packet.add_argument("--judge", help="a packet of this judge's unscored runs")
    packet.set_defaults(func=cmd_packet)
    scores = sub.add_parser("scores", help="import a judge's score file")
    scores.add_argument("experiment")
    scores.add_argument("file")
    scores.set_defaults(func=cmd_scores)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tipbench`."""
    args = parser().parse_args(argv)
    try:
        settings = Settings()  # read from the environment
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = "TIPBENCH_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        print(f"tipbench: {name}: {first['msg']}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(settings, args))
    except CliError as exc:
        print(f"tipbench: {exc}", file=sys.stderr)
        return exc.code
    except stack.StackError as exc:
        print(f"tipbench: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE


if __name__ == "__main__":
    sys.exit(main())
