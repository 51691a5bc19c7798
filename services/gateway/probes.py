"""The probes: liveness and readiness, public, answered by the gateway itself (no queue)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from services.gateway.deps import deps
from services.gateway.openapi import documented
from shared.contracts import Health, Readiness


def probes_blueprint() -> Blueprint:
    """The probes' blueprint `probes`: /healthz and /readyz, public."""
    probes = Blueprint("probes", __name__)
    probes.add_url_rule("/healthz", view_func=healthz, methods=["GET"])
    probes.add_url_rule("/readyz", view_func=readyz, methods=["GET"])
    return probes


@documented(summary="The process is up.", response=Health, public=True)
def healthz() -> Response:
    """The process is up (checks nothing else)."""
    return jsonify(Health(status="ok").model_dump(mode="json"))


@documented(
    summary="Redis and MLflow answer.",
    response=Readiness,
    public=True,
    also={503: Readiness},
)
def readyz() -> tuple[Response, int]:
    """Redis and MLflow answer (checked at most every 1.5 s); 503 naming what failed."""
    failed = deps().readiness.problems()
    answer = Readiness(status="ready" if not failed else "not ready", failed=failed)
    return jsonify(answer.model_dump(mode="json")), 200 if not failed else 503
