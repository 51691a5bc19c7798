"""`tipbench`: run the local stack and talk to the gateway from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import ValidationError

from shared.models import parse_parameter_size
from shared.settings import Settings
from shared.strictjson import strict_loads
from tipbench import stack

EXIT_OK, EXIT_FAILED_CELLS, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEMO_PROMPTS = ["v1", "v2-mentor", "v3-few-shot"]
ENDED = ("finished", "partial", "failed", "cancelled")


class CliError(Exception):
    """Raised to end the command with one clear line (and any detail lines) and an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
        self.lines: list[str] = []


class Gateway:
    """A small client of the gateway's HTTP API."""

    def __init__(self, settings: Settings) -> None:
        self.base = f"http://{settings.gateway_host}:{settings.gateway_port}"
        try:
            token = settings.checked_admin_tokens()[0]
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        self._http = httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )

    def call(self, method: str, path: str, body: Any = None, *, text: bool = False) -> Any:
        """Send a request; CliError with the gateway's message on any refusal."""
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise CliError(f"gateway unreachable at {self.base}: {exc}", EXIT_UNREACHABLE) from exc
        if response.status_code >= 400:
            raise refusal(method, path, response)
        return response.text if text else response.json()


def refusal(method: str, path: str, response: httpx.Response) -> CliError:
    """A refusal as one line, then one line per invalid field or item if there are several."""
    try:
        error = response.json()["error"]
        message, details = str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        message, details = response.text[:200], None
    code = EXIT_UNREACHABLE if response.status_code >= 500 else EXIT_USAGE
    failure = CliError(f"{method} {path}: {response.status_code} {message}", code)
    if isinstance(details, list) and len(details) > 1:
        failure.lines = [
            f"  {d.get('field', '?')}: {d.get('message', '')}"
            for d in details
            if isinstance(d, dict)
        ]
    return failure


def _bar(done: int, failed: int, total: int, width: int = 24) -> str:
    filled = int(width * (done + failed) / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


def progress_lines(job: dict[str, Any]) -> list[str]:
    """One line per model (bar, cells ended, failed, ETA), then the job's line."""
    ended_all = job["done"] + job["failed"]
    pace = job["elapsed_s"] / ended_all if ended_all else None
    width = max((len(m["model"]) for m in job["models"]), default=5)
    lines, waiting = [], 0
    for m in job["models"]:
        ended = m["done"] + m["failed"]
        waiting += m["total"] - ended  # models run in order: this one waits for those before
        running = m["model"] == job.get("current_model") and ended < m["total"]
        if ended == m["total"]:
            eta = "done"
        elif pace is None or job["status"] in ENDED:
            eta = "eta ?" if pace is None else "not run"
        else:
            eta = f"eta {pace * waiting:.0f}s"
        bar = _bar(m["done"], m["failed"], m["total"])
        lines.append(
            f"{'>' if running else ' '} {m['model']:<{width}} {bar} {ended}/{m['total']}"
            f"  failed {m['failed']}  {eta}"
        )
    lines.append(
        f"  job {job['status']}: {ended_all}/{job['total']} cells ({job['failed']} failed),"
        f" {job['elapsed_s']:.0f}s elapsed"
    )
    return lines


def watch(gateway: Gateway, job_id: str, *, poll_s: float = 1.0) -> dict[str, Any]:
    """Show live progress per model until the job ends; returns the final job status.

    On a terminal the lines are redrawn in place; into a file or a pipe, a block is
    written only when something changed.
    """
    tty = sys.stdout.isatty()
    drawn, shown = 0, None
    while True:
        job: dict[str, Any] = gateway.call("GET", f"/api/bench/jobs/{job_id}")
        lines = progress_lines(job)
        state = (job["done"], job["failed"], job.get("current_model"), job["status"])
        if tty:
            if drawn:
                sys.stdout.write(f"\x1b[{drawn}F")  # back to the first line drawn
            sys.stdout.write("".join(f"{line}\x1b[K\n" for line in lines))
            drawn = len(lines)
        elif state != shown:
            sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        shown = state
        if job["status"] in ENDED:
            return job
        time.sleep(poll_s)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_table(rows: list[list[str]]) -> None:
    """Rows as aligned columns; the first row is the header."""
    widths = [max(len(str(c)) for c in column) for column in zip(*rows, strict=False)]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


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
    print_table([header, *rows])
    if any(r["awaiting_judge"] for r in board["rows"]):
        print("(rows without a composite wait for a judge: see `tipbench judge export`)")
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
    print(
        f"gateway: http://{settings.gateway_host}:{settings.gateway_port}"
        f"  (admin pages: /admin/, API: /api/docs)"
    )
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
    print(
        f"admin:   http://{settings.gateway_host}:{settings.gateway_port}/admin/"
        f"experiments/{args.experiment}  (log in with the admin token)"
    )
    print(f"mlflow:  {settings.mlflow_uri}  (experiment tip-bench-{args.experiment})")
    return code


def _when(unix_s: float | None) -> str:
    if unix_s is None:
        return "-"
    return datetime.fromtimestamp(unix_s).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    jobs: list[dict[str, Any]] = Gateway(settings).call("GET", "/api/bench/jobs")
    if args.json:
        print(json.dumps(jobs, indent=2))
        return EXIT_OK
    if not jobs:
        print("no jobs yet: submit one with `tipbench run`")
        return EXIT_OK
    rows = [["job", "experiment", "status", "cells", "failed", "submitted"]] + [
        [j["job_id"], j["experiment"], j["status"], f"{j['done'] + j['failed']}/{j['total']}",
         str(j["failed"]), _when(j["created_at"])]
        for j in jobs
    ]  # fmt: skip
    print_table(rows)
    return EXIT_OK


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    job = Gateway(settings).call("GET", f"/api/bench/jobs/{args.job_id}")
    if args.json:
        print(json.dumps(job, indent=2))
    else:
        print(f"job {job['job_id']} in {job['experiment']}, submitted {_when(job['created_at'])}")
        print("\n".join(progress_lines(job)))
        for key, error in job["failed_cells"].items():
            print(f"failed cell {key}: {error}")
    return EXIT_FAILED_CELLS if job["failed"] else EXIT_OK


def cmd_leaderboard(settings: Settings, args: argparse.Namespace) -> int:
    query = {"judge": args.judge} if args.judge else {}
    gateway = Gateway(settings)
    path = f"/api/bench/leaderboard/{args.experiment}"
    if args.csv:
        sys.stdout.write(
            gateway.call("GET", f"{path}?{urlencode(query | {'format': 'csv'})}", text=True)
        )
        return EXIT_OK
    board = gateway.call("GET", f"{path}?{urlencode(query)}" if query else path)
    if args.json:
        print(json.dumps(board, indent=2))
    else:
        print_leaderboard(board)
    return EXIT_OK


def cmd_judge_export(settings: Settings, args: argparse.Namespace) -> int:
    query = f"?{urlencode({'judge': args.judge})}" if args.judge else ""
    packet = Gateway(settings).call("GET", f"/api/bench/judge/{args.experiment}/packet{query}")
    text = json.dumps(packet, indent=2, ensure_ascii=False)
    if args.output in (None, "-"):
        print(text)
        return EXIT_OK
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc.strerror or exc}", EXIT_USAGE) from exc
    print(f"packet {packet['packet_id']}: {len(packet['items'])} items -> {args.output}")
    return EXIT_OK


def cmd_judge_import(settings: Settings, args: argparse.Namespace) -> int:
    try:
        with open(args.file, encoding="utf-8") as handle:
            body = strict_loads(handle.read())
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}", EXIT_USAGE) from exc
    gateway = Gateway(settings)
    answer = gateway.call("POST", f"/api/bench/judge/{args.experiment}/scores", body)
    print(f"accepted {answer['n_scores']} scores (submission {answer['submission_id']})")
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
    jobs = sub.add_parser("jobs", help="recent jobs, newest first")
    jobs.add_argument("--json", action="store_true", help="print the raw JSON")
    jobs.set_defaults(func=cmd_jobs)
    status = sub.add_parser("status", help="a job's progress per model and its failed cells")
    status.add_argument("job_id")
    status.add_argument("--json", action="store_true", help="print the raw JSON")
    status.set_defaults(func=cmd_status)
    board = sub.add_parser("leaderboard", help="an experiment's leaderboard")
    board.add_argument("experiment")
    form = board.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print the JSON document")
    form.add_argument("--csv", action="store_true", help="print the rows as CSV")
    board.add_argument("--judge", help="panel, or one judge's view (default: primary)")
    board.set_defaults(func=cmd_leaderboard)
    judge = sub.add_parser("judge", help="export blind packets, import score files")
    judge_sub = judge.add_subparsers(dest="judge_command", required=True)
    export = judge_sub.add_parser("export", help="write an experiment's blind judge packet")
    export.add_argument("experiment")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    export.add_argument("--judge", help="a packet of this judge's unscored runs")
    export.set_defaults(func=cmd_judge_export)
    ingest = judge_sub.add_parser("import", help="submit a judge's score file")
    ingest.add_argument("experiment")
    ingest.add_argument("file")
    ingest.add_argument("--no-wait", action="store_true", help="do not wait for ingestion")
    ingest.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    ingest.set_defaults(func=cmd_judge_import)
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
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.code
    except stack.StackError as exc:
        print(f"tipbench: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE


if __name__ == "__main__":
    sys.exit(main())
