"""Load on the gateway with wrk (see docs/performance.md).

    .venv/bin/python -m bench.gateway_load          # needs wrk (Debian package `wrk`)

A throwaway stack (MLflow server, gunicorn gateway, workers, the fake Ollama of the
tests) runs one real job so that a leaderboard exists; then the workers are stopped, so
that the load measures the gateway and not the collector competing for the same 2
cores, and wrk drives, on loopback, for WRK_SECONDS each:
1. GET /api/bench/leaderboard/<experiment>  (a Redis read and JSON);
2. POST /api/bench/run with a 1-cell job    (size check, job record, enqueue);
3. the reads of 1. again, measured first, while the collector generates a 24-cell job
   with the embedded model (llama.cpp on the same 2 cores): is the gateway responsive
   while the workers are busy?
Every response must be 2xx: the script fails otherwise.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench import BENCH_TOKEN, bench_settings, forget
from testkit.fake_ollama import FakeModel, FakeOllama, tidy_reply
from tipbench import stack

WRK_SECONDS = 20
THREADS, CONNECTIONS = 2, 8
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, problems: list[str], script: str | None = None) -> dict[str, float]:
    """Run wrk; returns requests/s, p50 and p99 latency (ms), requests and errors; adds
    what wrk says of the errors to `problems`."""
    argv = [
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{WRK_SECONDS}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {BENCH_TOKEN}",
    ]
    if script:
        argv += ["-s", script]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout

    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert found, out
        return float(found.group(1)) * UNITS[found.group(2)]

    requests = re.search(r"(\d+) requests in", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert requests and rate, out
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(g) for g in sockets.groups()) if sockets else 0
    )
    # what went wrong, for the message that fails the run: wrk's counts, and the first
    # refusals' statuses and bodies (printed by the POST script's response hook)
    problems.extend(
        line.strip()
        for line in out.splitlines()
        if line.lstrip().startswith(("Non-2xx", "Socket errors", "refused "))
    )
    return {
        "rps": float(rate.group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": float(requests.group(1)),
        "errors": float(errors),
    }


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    fake = FakeOllama()
    fake.add(FakeModel("tidy:1b", parameter_size="1B", reply=tidy_reply))
    fake.start()
    settings = bench_settings(ollama_host=fake.url)
    problems: list[str] = []
    base = f"http://127.0.0.1:{settings.gateway_port}"
    try:
        stack.up(settings)
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {BENCH_TOKEN}"}, timeout=30
        ) as client:
            body = {
                "models": ["tidy:1b"],
                "prompts": ["v1"],
                "n_scenarios": 2,
                "experiment": "load-board",
            }
            assert client.post("/api/bench/run", json=body).status_code == 202
            deadline = time.monotonic() + 120
            while client.get("/api/bench/leaderboard/load-board").status_code != 200:
                assert time.monotonic() < deadline, "no leaderboard after 120 s"
                time.sleep(0.5)
            # 3. the same reads while the collector runs the embedded model flat out
            busy = {
                "models": ["gguf:smollm2-135m"],
                "prompts": ["v1", "v2-mentor", "v3-few-shot"],
                "n_scenarios": 8,
                "experiment": "load-busy",
            }
            busy_job = client.post("/api/bench/run", json=busy).json()["job_id"]
            while client.get(f"/api/bench/jobs/{busy_job}").json()["done"] < 1:
                time.sleep(0.5)  # the model is loaded and generating
            board_url = f"{base}/api/bench/leaderboard/load-board"
            during = wrk(board_url, problems)
            still_running = client.get(f"/api/bench/jobs/{busy_job}").json()["status"] == "running"
            assert still_running, "the busy job ended during the measurement: make it longer"
        for name in stack.recorded(settings):
            if name not in ("gateway", "mlflow", "redis"):
                stack.stop(settings, name)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
            job = json.dumps(
                {
                    "models": ["tidy:1b"],
                    "prompts": ["v1"],
                    "n_scenarios": 1,
                    "experiment": "load-post",
                }
            )
            lua.write(
                'wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = '{job}'\n"
                "local shown = 0\n"
                "response = function(status, headers, body)\n"
                "  if status >= 300 and shown < 3 then\n"
                "    shown = shown + 1\n"
                '    io.write("refused " .. status .. ": " .. body .. "\\n")\n'
                "  end\n"
                "end\n"
            )
        results = {
            "GET /api/bench/leaderboard/<experiment>": wrk(board_url, problems),
            "same, while the collector generates (embedded model)": during,
            "POST /api/bench/run (1 cell)": wrk(f"{base}/api/bench/run", problems, lua.name),
        }
        Path(lua.name).unlink()
    finally:
        stack.down(settings)
        fake.stop()
        forget(settings)
    print(f"wrk -t{THREADS} -c{CONNECTIONS} -d{WRK_SECONDS}s on loopback")
    print("| request | requests | req/s | p50 ms | p99 ms | errors |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(
            f"| `{name}` | {r['requests']:.0f} | {r['rps']:.1f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['errors']:.0f} |"
        )
    failed = {name: r["errors"] for name, r in results.items() if r["errors"]}
    if failed:
        raise SystemExit(f"errors under load: {failed}\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
