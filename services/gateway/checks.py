"""Checks of what a request sends and names, without Flask: a body against its model, names
and ids. Every pattern is matched against the whole string: a trailing newline is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.contracts import EXPERIMENT_PATTERN, JUDGE_ID_PATTERN, PANEL, PRIMARY, check_judge_id
from shared.errors import (
    InvalidExperimentName,
    InvalidJudgeId,
    InvalidRequest,
    JobNotFound,
    NotFound,
    SubmissionNotFound,
)
from shared.stores.packets import PACKET_ID_PATTERN

M = TypeVar("M", bound=BaseModel)


def anchored(pattern: str) -> re.Pattern[str]:
    """The pattern compiled so that match() too accepts only the whole string.

    `^...$` lets `re.match` accept "name\\n" (`$` matches before a final newline); the
    added `\\Z` does not.
    """
    return re.compile(pattern + r"\Z")


EXPERIMENT_NAME = anchored(EXPERIMENT_PATTERN)
JUDGE_ID = anchored(JUDGE_ID_PATTERN)
# Ids the gateway makes itself, checked before any reaches a Redis key name: a job id and a
# score submission id are uuid4().hex (submit.py, api/judging.py), a packet id new_id().
JOB_ID = anchored(r"^[0-9a-f]{32}$")
SUBMISSION_ID = anchored(r"^[0-9a-f]{32}$")
PACKET_ID = anchored(f"^{PACKET_ID_PATTERN}$")
# URL parameters that name something by id: a malformed id names nothing (404).
URL_IDS: dict[str, tuple[re.Pattern[str], type[NotFound], str]] = {
    "job_id": (JOB_ID, JobNotFound, "job"),
    "submission_id": (SUBMISSION_ID, SubmissionNotFound, "score submission"),
}


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as [{field, message}], field as a dotted path."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]


def parse(model: type[M], body: dict[str, Any]) -> M:
    """The body as the model; InvalidRequest naming every invalid field otherwise."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = validation_details(exc)
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise InvalidRequest(f"invalid request: {summary}", details) from None


def experiment_name(name: str) -> str:
    """The name, if it is a valid experiment name; InvalidExperimentName otherwise."""
    if not EXPERIMENT_NAME.fullmatch(name):
        raise InvalidExperimentName(f"experiment name {name!r} must match {EXPERIMENT_PATTERN}")
    return name


def judge_id(judge: str) -> str:
    """The id, if a judge may bear it; InvalidJudgeId otherwise (pattern, reserved names)."""
    if not JUDGE_ID.fullmatch(judge):
        raise InvalidJudgeId(f"judge id {judge!r} must match {JUDGE_ID_PATTERN}")
    try:
        return check_judge_id(judge)
    except ValueError as exc:
        raise InvalidJudgeId(str(exc)) from None


def is_leaderboard_view(view: str) -> bool:
    """True if view names a leaderboard: primary, panel or a judge id."""
    return view in (PRIMARY, PANEL) or bool(JUDGE_ID.fullmatch(view))


def check_url_ids(view_args: Mapping[str, Any] | None) -> None:
    """Refuse a URL whose id parameters cannot be ids (NotFound), before any store sees them."""
    for name, value in (view_args or {}).items():
        if name in URL_IDS:
            pattern, missing, what = URL_IDS[name]
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise missing(f"no {what} {value!r}")
