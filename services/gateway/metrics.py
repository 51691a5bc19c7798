"""Prometheus metrics of the gateway: requests by route and status, latency histogram;
and the stack's queue, job and model figures (services/gateway/queue_metrics.py).

Under gunicorn each worker is a process: with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py
sets it), the counters live in files there and /metrics sums every worker's.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from services.gateway.deps import deps
from services.gateway.openapi import documented
from services.gateway.queue_metrics import QueueCollector

REQUESTS = Counter(
    "tipbench_gateway_requests_total",
    "Requests answered, by method, route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "tipbench_gateway_request_duration_seconds",
    "Time to answer a request, by method and route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


# Label values come from these closed sets only: a client choosing the method or the path
# must not be able to add series (every new value is a new series, kept until restart).
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method() -> str:
    return request.method if request.method in KNOWN_METHODS else "other"


def _route() -> str:
    # The rule (`/api/bench/jobs/<job_id>`), never the raw path.
    return request.url_rule.rule if request.url_rule else "unmatched"


def instrument(app: Flask) -> None:
    """Count and time every request; serve /metrics."""

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("metrics_started")
        method, route = _method(), _route()
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        if started is not None:
            LATENCY.labels(method, route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    @documented(
        summary="Prometheus metrics of the gateway, the queues, the jobs and the models.",
        response={"type": "string"},
        media_type="text/plain",
        public=True,
    )
    def metrics() -> Response:
        """Prometheus metrics of every gateway worker process, and of the queues."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            body = generate_latest(registry)
        else:
            body = generate_latest(REGISTRY)
        queues = CollectorRegistry()
        queues.register(QueueCollector(deps().redis, deps().settings))
        return Response(body + generate_latest(queues), mimetype=CONTENT_TYPE_LATEST)
