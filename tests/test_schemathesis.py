"""Fuzz the live gateway (gunicorn, real Redis and MLflow) from its own OpenAPI document.

The gateway here has a namespace of its own that no worker consumes: the jobs the fuzzer
manages to submit are recorded and enqueued, never run, and removed with the namespace.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings
from testkit.processes import free_port, settings_env
from tests.conftest import TOKEN, log_tail
from tipbench import stack

pytestmark = pytest.mark.slow
ST = str(Path(sys.executable).parent / "st")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


@pytest.fixture(scope="module")
def fuzz_gateway(
    settings: Settings, mlflow_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    own = settings.model_copy(
        update={
            "namespace": f"{settings.namespace}-fuzz",
            "gateway_port": free_port(),
            "var_dir": str(tmp_path_factory.mktemp("fuzz-var")),
        }
    )
    gateway = next(s for s in stack.services(own) if s.name == "gateway")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings_env(own).items():
            patch.setenv(name, value)
        stack.start(own, gateway)
        try:
            stack.wait_http(f"http://127.0.0.1:{own.gateway_port}/healthz", 30, "the gateway")
            yield own
        finally:
            stack.stop(own, "gateway")


def test_the_live_gateway_survives_schemathesis(fuzz_gateway: Settings, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{fuzz_gateway.gateway_port}"
    result = subprocess.run(
        [
            ST,
            "run",
            f"{base}/api/openapi.json",
            "--url",
            base,
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            CHECKS,
            "--max-examples",
            os.environ.get("TIPBENCH_FUZZ_EXAMPLES", "25"),
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "20261126",
            # One worker: on CPython 3.11 two threads in ast.parse (hypothesis describes the
            # lambdas of its strategies that way) race on the parser's recursion counter and
            # crash the run with "AST constructor recursion depth mismatch".
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--no-color",
            "--generation-database",
            "none",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    report = result.stdout[-6000:]
    assert result.returncode == 0, report + "\n" + log_tail(fuzz_gateway, "gateway")
    counts = re.search(r"(\d+) generated, (\d+) passed", report)
    assert counts, report
    assert int(counts.group(1)) == int(counts.group(2)) >= 200  # every case ran and passed
