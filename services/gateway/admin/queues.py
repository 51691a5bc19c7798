"""Admin queue pages: queues, workers, actors, dead letters; requeue or purge them."""

from __future__ import annotations

from flask import Response, redirect, render_template, request, url_for

from services.gateway.deps import deps
from shared.errors import NotFound, QueueNotFound
from shared.queues import QueueInspector

DEAD_LETTER_ACTIONS = ("requeue-all", "purge")


def _queue(name: str) -> str:
    if name not in QueueInspector(deps().redis, deps().settings).names():
        raise QueueNotFound(f"no queue {name!r}")
    return name


def queues() -> str:
    """Queues, workers, actors and dead letters."""
    inspector = QueueInspector(deps().redis, deps().settings)
    names = inspector.names()
    return render_template(
        "admin/queues.html",
        stats=[inspector.stats(q) for q in names],
        workers=inspector.workers(),
        actors=inspector.actor_stats(),
        waiting={q: inspector.messages(q, "ready", 20) for q in names},
        dead={q: inspector.messages(q, "dead", 50) for q in names},
    )


def requeue_one(queue: str, message_id: str) -> Response:
    """Requeue one dead letter with fresh retries."""
    QueueInspector(deps().redis, deps().settings).requeue_dead(
        deps().broker, _queue(queue), message_id
    )
    return redirect(url_for("admin.queues"))  # type: ignore[return-value]


def bulk(queue: str, action: str) -> Response | str:
    """Requeue all or purge the dead letters: a confirmation page, then the action."""
    if action not in DEAD_LETTER_ACTIONS:
        raise NotFound(f"no action {action!r} on dead letters; one of {DEAD_LETTER_ACTIONS}")
    inspector = QueueInspector(deps().redis, deps().settings)
    name = _queue(queue)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        count = inspector.stats(name).dead
        return render_template("admin/confirm.html", queue=name, action=action, count=count)
    if action == "purge":
        inspector.purge_dead(name)
    else:
        inspector.requeue_all_dead(deps().broker, name)
    return redirect(url_for("admin.queues"))  # type: ignore[return-value]
