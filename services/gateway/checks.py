"""Checks of what a request sends and names, without Flask: a body against its model, names."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.contracts import EXPERIMENT_PATTERN, JUDGE_ID_PATTERN
from shared.errors import InvalidExperimentName, InvalidRequest
from shared.leaderboards import PRIMARY

M = TypeVar("M", bound=BaseModel)
EXPERIMENT_NAME = re.compile(EXPERIMENT_PATTERN)
JUDGE_ID = re.compile(JUDGE_ID_PATTERN)


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
    if not EXPERIMENT_NAME.match(name):
        raise InvalidExperimentName(f"experiment name {name!r} must match {EXPERIMENT_PATTERN}")
    return name


def is_leaderboard_view(view: str) -> bool:
    """True if view names a leaderboard: primary, panel or a judge id."""
    return view == PRIMARY or bool(JUDGE_ID.match(view))
