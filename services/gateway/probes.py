"""The probes: liveness and readiness, public, answered by the gateway itself (no queue)."""

from __future__ import annotations

import httpx
import redis
from flask import Flask, Response, jsonify
from pydantic import BaseModel, Field

from services.gateway.deps import GatewayDeps, deps
from services.gateway.openapi import documented

READY_TIMEOUT_S = 2.0


class Health(BaseModel):
    """The process answers."""

    status: str = Field(description="ok")


class Readiness(BaseModel):
    """Whether the gateway's dependencies answer."""

    status: str = Field(description="ready or not ready.")
    failed: dict[str, str] = Field(description="What failed (redis, mlflow) and why.")


def add_probes(app: Flask) -> None:
    """Serve /healthz and /readyz (endpoints `healthz` and `readyz`, public)."""
    app.get("/healthz")(healthz)
    app.get("/readyz")(readyz)


def readiness_problems(deps: GatewayDeps) -> dict[str, str]:
    """What the gateway depends on and cannot reach right now: {"redis"|"mlflow": why}."""
    failed: dict[str, str] = {}
    try:
        deps.redis.ping()
    except redis.RedisError as exc:
        failed["redis"] = str(exc)
    try:
        answer = httpx.get(f"{deps.settings.mlflow_uri}/health", timeout=READY_TIMEOUT_S)
        if answer.status_code != 200:
            failed["mlflow"] = f"/health answered {answer.status_code}"
    except httpx.HTTPError as exc:
        failed["mlflow"] = str(exc) or type(exc).__name__
    return failed


@documented(summary="The process is up.", response=Health, public=True)
def healthz() -> Response:
    """The process is up (checks nothing else)."""
    return jsonify({"status": "ok"})


@documented(
    summary="Redis and MLflow answer.",
    response=Readiness,
    public=True,
    also={503: Readiness},
)
def readyz() -> tuple[Response, int]:
    """Redis and MLflow answer; 503 naming what failed otherwise."""
    failed = readiness_problems(deps())
    body = {"status": "ready" if not failed else "not ready", "failed": failed}
    return jsonify(body), 200 if not failed else 503
