"""The admin web pages: server-rendered HTML behind the login form, no build step.

The job page and the scoring page use a little JavaScript (no build step) that calls the
same /api routes with the session cookie and its CSRF token. The pages follow the suite
of what they show: its scenarios, prompt versions and rubric are data, never written here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint

from services.gateway.admin import (
    bench_form,
    compare,
    jobs,
    login,
    queues,
    results,
    scoring,
    suites,
)
from services.gateway.auth import CSRF_FIELD, csrf_token

# The pages' map, one line per page: methods, rule under /admin, view.
PAGES: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    ("GET POST", "/login", login.login),
    ("POST", "/logout", login.logout),
    ("GET", "/", results.experiments),
    ("GET POST", "/new", bench_form.new_benchmark),
    ("GET", "/jobs/<job_id>", jobs.job),
    ("POST", "/jobs/<job_id>/retry", jobs.retry),
    ("POST", "/jobs/<job_id>/cancel", jobs.cancel),
    ("GET", "/experiments/<experiment>", results.leaderboard),
    ("GET", "/experiments/<experiment>/runs/<run_id>", results.cell),
    ("GET", "/experiments/<experiment>/score", scoring.score),
    ("GET", "/compare", compare.compare),
    ("GET POST", "/suites", suites.suites),
    ("GET", "/suites/<name>", suites.suite_versions),
    ("GET", "/suites/<name>/<version>", suites.suite_version),
    ("GET", "/queues", queues.queues),
    ("POST", "/queues/<queue>/dead/<message_id>/requeue", queues.requeue_one),
    ("GET POST", "/queues/<queue>/dead/<action>", queues.bulk),
)


def admin_blueprint() -> Blueprint:
    """The /admin blueprint: every page of PAGES, the templates and the static files."""
    admin = Blueprint(
        "admin",
        __name__,
        url_prefix="/admin",
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    admin.app_context_processor(template_globals)
    for methods, rule, view in PAGES:
        admin.add_url_rule(rule, view_func=view, methods=methods.split())
    return admin


def template_globals() -> dict[str, Any]:
    """What every template may use: the session's CSRF token and its field name."""
    return {"csrf_token": csrf_token, "csrf_field": CSRF_FIELD}
