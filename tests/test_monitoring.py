"""Specs of the monitoring profile, without Docker: the Prometheus configuration and rules
pass promtool, a real Prometheus scrapes the test stack, and the dashboard and the alerts
name only metrics the stack exports.

The Prometheus server here is Debian's `prometheus` binary on a free port with its own
storage, configured from deploy/prometheus with the test stack's addresses in place of
compose's DNS names, and loading the repo's rules.yml.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from shared.settings import Settings
from testkit.fake_ollama import FakeOllama
from testkit.processes import free_port
from tests.conftest import unavailable, wait_until
from tests.test_scheduling import ended_job
from tipbench import stack

ROOT = Path(__file__).parents[1]
PROMETHEUS = ROOT / "deploy/prometheus"
DASHBOARD = ROOT / "deploy/grafana/dashboards/tipbench.json"
# Series Prometheus writes itself for every target, not found on any endpoint.
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
    | {"unless", "offset", "inf", "nan"}
)


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} (apt-get install prometheus)")
    return str(found)


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # label values
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)  # matchers, ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = re.findall(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", text)
    return {n for n in names if n.lower() not in _KEYWORDS}


def dashboard_exprs() -> dict[str, str]:
    """Every query of the dashboard, by panel title and query letter."""
    dashboard = json.loads(DASHBOARD.read_text())
    return {
        f"panel {panel['title']!r} {target['refId']}": target["expr"]
        for panel in dashboard["panels"]
        for target in panel["targets"]
    }


def rule_exprs() -> dict[str, str]:
    """Every alert rule's expression, by alert name."""
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    return {
        f"alert {rule['alert']}": rule["expr"]
        for group in rules["groups"]
        for rule in group["rules"]
    }


def unknown_metrics(exprs: dict[str, str], exported: set[str]) -> dict[str, set[str]]:
    """Per query, the metric names it uses that nothing exports."""
    missing = {where: promql_metric_names(e) - exported - SYNTHETIC for where, e in exprs.items()}
    return {where: names for where, names in missing.items() if names}


def sample_names(text: str) -> set[str]:
    """The series names of a Prometheus exposition (`x_total`, `x_bucket`, ...)."""
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (actor_name) (rate(dramatiq_message_errors_total{actor_name=~"a|b"}[5m]))',
            {"dramatiq_message_errors_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m]))) / on(job) y offset 1h",
            {"x_bucket", "y"},
        ),
        (
            'up{job="w"} == 0 or tipbench_workers{state="silent"} > bool 0',
            {"up", "tipbench_workers"},
        ),
    ],
)
def test_promql_metric_names_finds_the_selected_metrics_only(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


def test_a_query_naming_a_metric_no_one_exports_is_reported() -> None:
    exprs = {"panel gone": "rate(tipbench_gone_total[5m]) + rate(tipbench_here_total[5m])"}
    assert unknown_metrics(exprs, {"tipbench_here_total"}) == {
        "panel gone": {"tipbench_gone_total"}
    }


def test_prometheus_config_and_rules_pass_promtool() -> None:
    promtool = tool("promtool")
    for argv in (
        ["check", "config", "prometheus.yml"],  # checks rules.yml too, which it names
        ["check", "rules", "rules.yml"],
        ["test", "rules", "rules_test.yml"],  # the alerts fire when they should, and only then
    ):
        result = subprocess.run(
            [promtool, *argv], cwd=PROMETHEUS, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"promtool {' '.join(argv)}:\n{result.stdout}{result.stderr}"


def test_every_panel_queries_the_provisioned_data_source() -> None:
    sources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (source,) = sources["datasources"]
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert all(t["datasource"]["uid"] == source["uid"] for t in panel["targets"])


# A scrape of a loaded test machine may take over a second: every 2 s, with 2 s to answer.
SCRAPE = "2s"


def local_config(settings: Settings, interval: str) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with the test stack's addresses for compose's names."""
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"].update(
        scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval
    )
    config["rule_files"] = [str(PROMETHEUS / name) for name in config["rule_files"]]
    workers = stack.metrics_ports(settings)
    targets = {
        "tipbench-gateway": {"gateway": settings.gateway_port},
        "tipbench-workers": workers,
    }
    for job in config["scrape_configs"]:
        del job["dns_sd_configs"], job["relabel_configs"]
        job["static_configs"] = [
            {"targets": [f"127.0.0.1:{port}"], "labels": {"service": name}}
            for name, port in targets[job["job_name"]].items()
        ]
    return config


@pytest.fixture(scope="module")
def prometheus(running_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus server scraping the running stack every second; yields its URL."""
    binary = tool("prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    (folder / "prometheus.yml").write_text(yaml.safe_dump(local_config(running_stack, SCRAPE)))
    port = free_port()
    with (folder / "prometheus.log").open("wb") as log:
        server = subprocess.Popen(
            [
                binary,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            stack.wait_http(f"{url}/-/ready", 30, "Prometheus")
        except stack.StackError as error:
            pytest.fail(f"{error}:\n{(folder / 'prometheus.log').read_text()[-2000:]}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """The instant vector Prometheus answers for `promql` through its HTTP API."""
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def value(url: str, promql: str) -> float | None:
    """The single value of `promql`, None while Prometheus has no sample for it."""
    found = query(url, promql)
    return float(found[0]["value"][1]) if found else None


def test_prometheus_reads_a_running_jobs_queue_through_the_gateway(
    api: httpx.Client, fake_ollama: FakeOllama, prometheus: str
) -> None:
    # Given a job of three cells whose generations take a while (several scrapes each)
    fake_ollama.state.generation_delay_s = 4.0
    try:
        body = {"models": ["tidy:1b"], "prompts": ["v1"], "n_scenarios": 3, "experiment": "mon-q"}
        job_id = api.post("/api/bench/run", json=body).json()["job_id"]
        # When Prometheus scrapes while it runs
        # Then a cell is in progress in the collect queue, and the job is counted as not ended
        wait_until(
            lambda: (
                (value(prometheus, 'tipbench_queue_in_progress_messages{queue="collect"}') or 0)
                >= 1
            ),
            timeout_s=30,
            what="a cell in progress, as Prometheus scraped it",
        )
        # (a job is `queued` until its first cell ends)
        unended = value(prometheus, 'sum(tipbench_jobs{status=~"queued|running"})')
        assert unended is not None and unended >= 1
        assert ended_job(api, job_id)["status"] == "finished"
    finally:
        fake_ollama.state.generation_delay_s = 0.0
    # And once it has ended, the model's generated cells and their timings are there
    wait_until(
        lambda: (
            (value(prometheus, 'tipbench_model_cells_generated_total{model="tidy:1b"}') or 0) >= 3
        ),
        timeout_s=30,
        what="the cells generated, as Prometheus scraped them",
    )
    mean = value(
        prometheus,
        'tipbench_model_generation_seconds_sum{model="tidy:1b"}'
        ' / tipbench_model_generation_seconds_count{model="tidy:1b"}',
    )
    assert mean is not None and mean > 0
    # And every target was up, and every alert rule evaluated without error
    targets = query(prometheus, "up")
    assert {t["metric"]["service"] for t in targets if t["value"][1] == "1"} >= {
        "gateway",
        "collector",
        "recorder",
        "judge_bridge",
        "reporter-1",
    }
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {r["name"] for r in rules} == {e.removeprefix("alert ") for e in rule_exprs()}
    assert all(r["health"] == "ok" for r in rules), rules


def test_the_dashboard_and_the_alerts_name_only_metrics_the_stack_exports(
    api: httpx.Client, fake_ollama: FakeOllama, running_stack: Settings
) -> None:
    # Given a job with a model that always fails (errors, a retry, a dead letter) and one
    # that works (generations, records, a leaderboard rebuild)
    fake_ollama.state.failing["tidy-b:0.5b"] = 500
    try:
        body = {
            "models": ["tidy:1b", "tidy-b:0.5b"],
            "prompts": ["v1"],
            "n_scenarios": 1,
            "experiment": "mon-names",
        }
        job_id = api.post("/api/bench/run", json=body).json()["job_id"]
        assert ended_job(api, job_id)["status"] == "partial"
    finally:
        fake_ollama.state.failing.clear()
    # When every endpoint of the stack is scraped
    ports = [running_stack.gateway_port, *stack.metrics_ports(running_stack).values()]
    paths = ["/metrics"] + ["/"] * (len(ports) - 1)

    def exported() -> set[str]:
        names: set[str] = set()
        for port, path in zip(ports, paths, strict=True):
            names |= sample_names(httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).text)
        return names if "dramatiq_message_rejects_total" in names else set()

    names = wait_until(exported, timeout_s=30, what="the dead letter in the workers' metrics")
    # Then each metric a panel or an alert names is one of them
    assert unknown_metrics(dashboard_exprs() | rule_exprs(), names) == {}
