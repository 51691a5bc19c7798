"""Specs of the deployment: compose.yaml, the Dockerfile, the lock file, the proxy's config.

No Docker engine runs here, so the files are checked by schema and by reading them (the
image's conditions are reproduced with real processes in tests/reliability/
test_container.py). Compose's variable interpolation is reproduced by `interpolate`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import Settings
from tests.conftest import unavailable
from tipbench import stack

ROOT = Path(__file__).parents[1]
APP_SERVICES = ("gateway", "collector", "recorder", "judge_bridge", "reporter")
ONE_SHOT = ("ollama-pull",)
PROFILED = {"ollama": ["cpu"], "ollama-gpu": ["gpu"], "ollama-pull": ["cpu", "gpu"]}
MONITORING = ("prometheus", "grafana")
WORKERS = ("collector", "recorder", "judge_bridge", "reporter")
SECRETS = {"admin_token": "TIPBENCH_ADMIN_TOKEN", "postgres_password": "TIPBENCH_POSTGRES_PASSWORD"}
_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}"
)


class MissingVariable(Exception):
    """Raised when a required variable (`${NAME:?message}`) is unset, as compose does."""


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """`value` with compose's ${NAME}, ${NAME:-default}, ${NAME:?error} and $$ resolved."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        found = env.get(name, "")
        if op == ":?" and not found:
            raise MissingVariable(f"{name}: {arg}")
        return found or (arg if op == ":-" else "")

    return _VARIABLE.sub(one, value)


def compose_file() -> dict[str, Any]:
    """compose.yaml as `docker compose` reads it with no variable set but the secrets'."""
    raw = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return dict(interpolate(raw, dict.fromkeys(SECRETS.values(), "x" * 32)))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return compose_file()


def test_compose_file_validates_against_the_official_schema() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "compose.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_has_every_service_and_no_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose
    assert set(compose["services"]) == {
        "proxy",
        "redis",
        "postgres",
        "mlflow",
        "mlflow-ui",
        "ollama",
        "ollama-gpu",
        "ollama-pull",
        *APP_SERVICES,
        *MONITORING,
    }


@pytest.mark.parametrize("missing", sorted(SECRETS.values()))
def test_compose_refuses_to_start_without_a_secret(missing: str) -> None:
    raw = yaml.safe_load((ROOT / "compose.yaml").read_text())
    others = {var: "x" * 32 for var in SECRETS.values() if var != missing}
    with pytest.raises(MissingVariable, match=missing):
        interpolate(raw, others)


def test_secrets_reach_their_services_as_files_only(compose: dict[str, Any]) -> None:
    for secret, variable in SECRETS.items():
        assert compose["secrets"][secret]["environment"] == variable
    services = compose["services"]
    assert services["gateway"]["secrets"] == ["admin_token"]
    assert services["gateway"]["environment"]["TIPBENCH_ADMIN_TOKEN_FILE"] == (
        "/run/secrets/admin_token"
    )
    assert services["postgres"]["secrets"] == services["mlflow"]["secrets"] == ["postgres_password"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/postgres_password"
    )
    holders = {name for name, s in services.items() if "secrets" in s}
    assert holders == {"gateway", "postgres", "mlflow"}
    for name, service in services.items():  # never a value in an environment or a command
        env = " ".join(f"{k}={v}" for k, v in (service.get("environment") or {}).items())
        assert "x" * 32 not in env + " ".join(service.get("command") or []), name


def test_every_image_is_pinned_to_a_release(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if "build" in service:
            assert name in APP_SERVICES and image == "tipbench:local", name
            continue
        repository, _, tag = image.rpartition(":")
        # a release, not a moving tag; PostgreSQL's releases are major.minor
        release = r"\d+\.\d+" if repository == "postgres" else r"v?\d+\.\d+\.\d+"
        assert re.match(rf"{release}(-|$)", tag), f"{name}: {image} is not pinned"


def test_every_long_running_service_restarts(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        expected = "on-failure:3" if name in ONE_SHOT else "unless-stopped"
        assert service.get("restart") == expected, name


def test_every_dependency_waits_for_health_or_completion(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: bare depends_on list"
        for target, rule in depends.items():
            expected = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            assert rule["condition"] == expected, (name, target)
            # only a dependency that a profile may leave out is optional
            assert rule.get("required", True) is (target not in PROFILED), (name, target)
            if expected == "service_healthy":
                assert "healthcheck" in services[target], target


def test_ollama_runs_on_the_cpu_or_reserves_a_gpu_by_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, profiles in PROFILED.items():
        assert services[name]["profiles"] == profiles, name
    optional = set(PROFILED) | {"mlflow-ui", *MONITORING}
    assert all("profiles" not in s for n, s in services.items() if n not in optional)
    gpu = services["ollama-gpu"]
    assert gpu["networks"]["models"]["aliases"] == ["ollama"]  # the same name for its callers
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "deploy" not in services["ollama"]
    assert services["ollama"]["image"] == gpu["image"] == services["ollama-pull"]["image"]


def published(service: dict[str, Any]) -> list[str]:
    return [str(port) for port in service.get("ports", [])]


def test_only_the_proxy_and_the_operators_uis_are_published_on_loopback_by_default(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        ports = published(service)
        if name not in ("proxy", "mlflow-ui", "grafana"):
            assert not ports, f"{name} publishes {ports}"
            continue
        (port,) = ports
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    raw = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert raw["services"]["proxy"]["ports"] == [
        "${TIPBENCH_BIND_ADDRESS:-127.0.0.1}:${TIPBENCH_HTTP_PORT:-8000}:8080"
    ]


def test_mlflow_is_reachable_only_inside_the_internal_network(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert compose["networks"]["backend"] == {"internal": True}
    assert services["mlflow"]["networks"] == ["backend"]
    assert "ports" not in services["mlflow"]
    assert "backend" not in services["proxy"]["networks"]  # the exposed side cannot reach it
    for name, service in services.items():
        if "backend" in (service.get("networks") or []):
            assert name in {
                "redis",
                "postgres",
                "mlflow",
                "mlflow-ui",
                "prometheus",
                *APP_SERVICES,
            }, name
    gateway = services["gateway"]["environment"]
    assert gateway["TIPBENCH_MLFLOW_URI"] == "http://mlflow:5000"
    assert gateway["TIPBENCH_MLFLOW_PUBLIC_URL"] == "http://127.0.0.1:5000"
    assert services["mlflow-ui"]["ports"] == ["127.0.0.1:5000:5000"]


def test_mlflow_keeps_its_runs_in_postgres_and_its_artifacts_on_a_volume(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:18.")
    # PostgreSQL 18 images keep their data under /var/lib/postgresql/<major>/docker
    assert "postgres-data:/var/lib/postgresql" in postgres["volumes"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    mlflow = services["mlflow"]
    command = " ".join(mlflow["command"])
    assert "--backend-store-uri=postgresql+psycopg2://mlflow@postgres:5432/mlflow" in command
    assert 'PGPASSWORD="$(cat /run/secrets/postgres_password)"' in command
    assert "--serve-artifacts" in command and "--allowed-hosts=mlflow" in command
    assert mlflow["image"].endswith("-full")  # the image with PostgreSQL's drivers
    assert any(v.startswith("mlflow-data:") for v in mlflow["volumes"])
    assert mlflow["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_mlflow_serves_its_flask_app_under_gunicorn_as_the_local_stack_does(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    mlflow = compose["services"]["mlflow"]
    command = " ".join(mlflow["command"])
    assert f'--gunicorn-opts="{stack.MLFLOW_GUNICORN_OPTS}"' in command
    assert "--uvicorn-opts" not in command
    local = stack.mlflow_service(Settings(var_dir=str(tmp_path))).argv
    assert local[local.index("--gunicorn-opts") + 1] == stack.MLFLOW_GUNICORN_OPTS


def test_stateful_services_persist_and_check_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "--appendonly" in services["redis"]["command"]
    assert any(v.startswith("redis-data:") for v in services["redis"]["volumes"])
    assert any(v.startswith("ollama-models:") for v in services["ollama"]["volumes"])
    for name in ("proxy", "redis", "postgres", "mlflow", "ollama", "ollama-gpu", "gateway"):
        assert "healthcheck" in services[name], name


def test_app_services_are_scalable_unprivileged_and_read_only(compose: dict[str, Any]) -> None:
    writable = set(dockerfile_writable_paths()) | {"/tmp"}
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert "container_name" not in service, name
        assert not published(service), name
        assert service["read_only"] is True, name
        assert set(service["tmpfs"]) == writable, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_the_gateway_sits_behind_a_buffering_proxy_that_times_slow_clients_out(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    assert "./deploy/nginx/gateway.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
    assert proxy["depends_on"] == {"gateway": {"condition": "service_healthy"}}
    config = (ROOT / "deploy/nginx/gateway.conf").read_text()
    for directive in (
        "proxy_request_buffering on;",
        "client_header_timeout 10s;",
        "client_body_timeout 10s;",
        "proxy_read_timeout 75s;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "server gateway:8000;",
        "listen 8080;",
    ):
        assert directive in config, directive
    gateway = services["gateway"]
    assert gateway["environment"]["TIPBENCH_PROXY_HOPS"] == "1"
    assert "edge" in gateway["networks"] and gateway["expose"] == ["8000"]


@pytest.mark.parametrize("config", ["gateway.conf", "mlflow-ui.conf"])
def test_the_proxy_configs_are_valid_nginx(config: str, tmp_path: Path) -> None:
    nginx = shutil.which("nginx")
    if nginx is None:
        unavailable("nginx (apt-get install nginx-light)")
    site = (ROOT / "deploy/nginx" / config).read_text()
    site = site.replace("gateway:8000", "127.0.0.1:1").replace(
        "http://mlflow:5000", "http://127.0.0.1:1"
    )
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{ client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy;"
        f" include {tmp_path}/site.conf; }}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-q", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_collector_is_one_process_with_the_threads_of_the_settings(
    compose: dict[str, Any],
) -> None:
    # one generation at a time (one slot by default), and a thread holding the next cell
    threads = Settings().collector_threads
    assert threads == 2
    collector = compose["services"]["collector"]
    command = " ".join(collector["command"])
    assert f"--processes 1 --threads {threads} --queues collect" in command
    assert collector["environment"]["dramatiq_queue_prefetch"] == str(threads)
    assert "gunicorn" in compose["services"]["gateway"]["command"]


def test_no_app_service_holds_the_admin_token_in_its_environment(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert "TIPBENCH_ADMIN_TOKEN" not in env, name


def test_every_worker_exposes_its_metrics_port(compose: dict[str, Any]) -> None:
    for name in WORKERS:
        service = compose["services"][name]
        assert service["expose"] == ["9191"], name
        assert service["environment"]["dramatiq_prom_port"] == "9191", name
        assert service["environment"]["dramatiq_prom_host"] == "0.0.0.0", name
        assert service["environment"]["MLFLOW_DISABLE_TELEMETRY"] == "true", name


def test_the_monitoring_profile_scrapes_the_gateway_and_every_worker(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in MONITORING:
        assert services[name]["profiles"] == ["monitoring"], name
    prometheus = services["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert any(v.startswith("prometheus-data:/prometheus") for v in prometheus["volumes"])
    # Prometheus reaches the services on the internal network; Grafana only Prometheus
    assert set(prometheus["networks"]) == {"backend", "metrics"}
    assert compose["networks"]["metrics"] == {"internal": True}
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job["dns_sd_configs"] for job in config["scrape_configs"]}
    ((gateway,),) = [jobs["tipbench-gateway"]]
    assert (gateway["names"], gateway["port"]) == (["gateway"], 8000)
    assert services["gateway"]["expose"] == ["8000"]
    ((workers,),) = [jobs["tipbench-workers"]]
    assert set(workers["names"]) == set(WORKERS) and workers["port"] == 9191
    assert config["rule_files"] == ["rules.yml"]  # beside it in the mounted folder


def test_grafana_shows_the_provisioned_dashboard_read_only_on_loopback(
    compose: dict[str, Any],
) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["ports"] == ["127.0.0.1:3000:3000"]
    assert set(grafana["networks"]) == {"edge", "metrics"}
    assert grafana["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
    env = grafana["environment"]
    # no account to manage and no public default password: viewers only, no login at all
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_AUTH_DISABLE_LOGIN_FORM"] == env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_BASIC_ENABLED"] == "false"
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/tipbench.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    sources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (source,) = sources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    assert "9090" in compose["services"]["prometheus"]["expose"]


def dockerfile_lines() -> list[str]:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def dockerfile_writable_paths() -> list[str]:
    """The paths the image gives its user: `install -d -o <user>` and its home."""
    lines = dockerfile_lines()
    paths = [
        p for line in lines for p in re.findall(r"install -d -o \S+ -g \S+ -m \S+ (\S+)", line)
    ]
    paths += [p for line in lines for p in re.findall(r"--home-dir (\S+)", line)]
    return paths


def test_the_image_installs_locked_dependencies_before_the_source_and_runs_unprivileged() -> None:
    lines = dockerfile_lines()
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) == 2, "a build stage (compilers) and a runtime stage"
    assert all(re.match(r"FROM python:3\.11\.\d+-slim", lines[i]) for i in stages)
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    assert "--require-hashes" in lines[install] and "-r /tmp/requirements.lock" in lines[install]
    lock_copy = next(i for i, line in enumerate(lines) if line.startswith("COPY requirements.lock"))
    first_source = next(i for i, line in enumerate(lines) if line.startswith("COPY shared"))
    assert lock_copy < install < first_source  # a code change reuses the dependency layer
    assert not any(line.startswith("COPY . ") for line in lines)
    user = next(line for line in reversed(lines) if line.startswith("USER "))
    assert user.split()[1] not in ("root", "0")
    env = " ".join(line for line in lines if line.startswith("ENV "))
    assert "TIPBENCH_VAR_DIR=/var/lib/tipbench" in env
    assert "/var/lib/tipbench" in dockerfile_writable_paths()


def normalized(name: str) -> str:
    """A package name as the index compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    """Package name -> pinned version in requirements.lock."""
    text = (ROOT / "requirements.lock").read_text()
    return {
        normalized(m.group(1)): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==(\S+) ", text, re.M)
    }


def test_the_lock_pins_every_dependency_and_the_embedded_extra_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["embedded"]
    pins = locked()
    for requirement in wanted:
        name = normalized(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0])
        assert name in pins, f"{name} is not in requirements.lock: regenerate it"
        exact = re.search(r"==([^,;\s]+)", requirement)
        if exact:
            assert pins[name] == exact.group(1), name
    text = (ROOT / "requirements.lock").read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        if "==" in block.splitlines()[0]:
            assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_build_context_holds_only_the_lock_and_the_code() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*"  # everything is left out but what is let in
    assert {r for r in rules if r.startswith("!")} == {
        "!requirements.lock",
        "!shared/",
        "!services/",
        "!tipbench/",
    }
    copied = [line.split()[1] for line in dockerfile_lines() if line.startswith("COPY ")]
    copied = [c for c in copied if not c.startswith("--from")]
    assert set(copied) == {"requirements.lock", "shared", "services", "tipbench"}


def test_the_hosts_override_runs_one_collector_per_host_on_its_queue(
    compose: dict[str, Any],
) -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    path = ROOT / "compose.hosts.yaml"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    services = yaml.safe_load(path.read_text())["services"]
    assert services.pop("collector") == {"deploy": {"replicas": 0}}
    assert len(services) >= 2
    for name, service in services.items():
        host = name.removeprefix("collector-")
        assert service["extends"] == {"file": "compose.yaml", "service": "collector"}
        assert service["environment"] == {"TIPBENCH_COLLECTOR_HOST": host}
        threads = Settings().collector_threads
        assert f"--threads {threads} --queues collect.{host}" in " ".join(service["command"])
    # every app service reads the hosts: the gateway plans, the judge waits for every queue
    for name in APP_SERVICES:
        assert "TIPBENCH_HOSTS" in compose["services"][name]["environment"], name
