"""MLflow on PostgreSQL, as it runs in production: the end-to-end flow of test_e2e.py through
a second stack whose MLflow server keeps its runs in a PostgreSQL database of its own,
created for this test and dropped after it.

PostgreSQL at TIPBENCH_TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432, trust auth);
skipped locally when none answers, failed in CI.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import psycopg2
import pytest

import tests.test_e2e as e2e
from shared.settings import Settings
from testkit.processes import free_port
from tests.conftest import gateway_client, log_tail, stack_running, unavailable
from tipbench import stack

pytestmark = pytest.mark.slow
ADMIN_URL = os.environ.get(
    "TIPBENCH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh database; yields its SQLAlchemy URI for MLflow; dropped at the end."""
    name = f"tipbench_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg2.connect(ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError:
        unavailable(f"PostgreSQL at {ADMIN_URL}")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        server = urlparse(ADMIN_URL)
        yield f"postgresql+psycopg2://{server.netloc}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_stack(
    settings: Settings, postgres_database: str, tmp_path: Path
) -> Iterator[Settings]:
    """MLflow on the database, then the gateway and the workers, on a namespace of their own."""
    mlflow_port = free_port()
    ours = settings.model_copy(
        update={
            "namespace": f"{settings.namespace}-pg",
            "mlflow_port": mlflow_port,
            "mlflow_uri": f"http://127.0.0.1:{mlflow_port}",
            "mlflow_backend_uri": postgres_database,
            "gateway_port": free_port(),
            "metrics_port": free_port(),
            "var_dir": str(tmp_path / "var"),
        }
    )
    assert postgres_database in stack.mlflow_service(ours).argv
    stack.start(ours, stack.mlflow_service(ours))
    try:
        stack.wait_http(f"{ours.mlflow_uri}/health", stack.MLFLOW_READY_TIMEOUT_S, "MLflow")
        with stack_running(ours) as running:
            yield running
    except BaseException:
        print(log_tail(ours, "mlflow"))  # noqa: T201 - shown only on failure
        raise
    finally:
        stack.stop(ours, "mlflow")


def test_the_end_to_end_flow_runs_with_mlflow_on_postgresql(
    postgres_stack: Settings, postgres_database: str
) -> None:
    # Given a stack whose MLflow keeps its runs in PostgreSQL
    # When a job runs, is judged by two judges and ranked (test_e2e's first test)
    with gateway_client(postgres_stack) as api:
        e2e.test_bench_job_runs_end_to_end_and_ranks_the_judged_pairs(api, postgres_stack)
    # Then the runs are rows of PostgreSQL
    with psycopg2.connect(postgres_database.replace("+psycopg2", ""), connect_timeout=3) as db:
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM runs JOIN experiments USING (experiment_id)"
                " WHERE experiments.name = 'tip-bench-e2e' AND runs.lifecycle_stage = 'active'"
            )
            (runs,) = cursor.fetchone()
    db.close()
    assert runs >= 12  # the 12 cells, the job's parent run and the leaderboard's
