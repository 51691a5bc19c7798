"""The events that change an experiment's leaderboard, and which runs each one changed."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from shared.contracts import CellFinished, ReporterEvent, ScoresIngested

_EVENTS: TypeAdapter[ReporterEvent] = TypeAdapter(ReporterEvent)


def parse_event(payload: dict[str, Any]) -> ReporterEvent:
    """The contract a rebuild_leaderboard message carries, chosen by its `kind`."""
    return _EVENTS.validate_python(payload)


def changed_runs(event: ReporterEvent) -> list[str] | None:
    """The runs this event changed; [] for none; None if it cannot say (read all)."""
    if isinstance(event, CellFinished):
        if not event.ok:
            return []
        return [event.run_id] if event.run_id else None
    if isinstance(event, ScoresIngested):
        return event.run_ids
    return []  # a job's end changes no run: its cells announced theirs
