"""The /api/bench routes on one blueprint `bench`: jobs, suites, results and judging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint

from services.gateway.api import compare, jobs, judging, pairs, results, suites

# The API's map, one line per route: method, rule under /api/bench, view.
ROUTES: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    ("POST", "/run", jobs.run_bench),
    ("GET", "/jobs", jobs.list_jobs),
    ("GET", "/jobs/<job_id>", jobs.job_status),
    ("POST", "/jobs/<job_id>/retry", jobs.retry_job),
    ("POST", "/jobs/<job_id>/cancel", jobs.cancel_job),
    ("POST", "/suites", suites.push_suite),
    ("GET", "/suites", suites.list_suites),
    ("GET", "/suites/schema.json", suites.suite_schema),
    ("GET", "/suites/<name>", suites.suite_versions),
    ("GET", "/suites/<name>/<version>", suites.suite_version),
    ("GET", "/experiments", results.list_experiments),
    ("GET", "/runs/<experiment>", results.list_runs),
    ("GET", "/leaderboard/<experiment>", results.leaderboard),
    ("GET", "/report/<experiment>", results.report),
    ("GET", "/compare", compare.compare),
    ("GET", "/judge/<experiment>/packet", judging.judge_packet),
    ("POST", "/judge/<experiment>/run", judging.run_llm_judge),
    ("GET", "/judge/<experiment>/failures", judging.judge_failures),
    ("GET", "/judge/<experiment>/agreement", judging.judge_agreement),
    ("POST", "/judge/<experiment>/scores", judging.post_scores),
    ("GET", "/judge/<experiment>/pairs", pairs.pair_packet),
    ("POST", "/judge/<experiment>/pair-scores", pairs.post_pair_scores),
    ("GET", "/judge/<experiment>/submissions/<submission_id>", judging.submission_status),
)


def bench_blueprint() -> Blueprint:
    """The /api/bench blueprint with every route of ROUTES."""
    bench = Blueprint("bench", __name__, url_prefix="/api/bench")
    for method, rule, view in ROUTES:
        bench.add_url_rule(rule, view_func=view, methods=[method])
    return bench
