"""The request's body: its bytes, JSON, and a JSON object."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import ClientDisconnected

from services.gateway.errors import ApiError
from shared.errors import InvalidRequest
from shared.strictjson import strict_loads


def raw_body() -> bytes:
    """The body's bytes: 413 past the size limit, 408 if it did not arrive in full."""
    try:
        return request.get_data(cache=True)
    except ClientDisconnected:  # gone, or cut off for sending too slowly
        raise ApiError(
            408, "request_timeout", "the request body did not arrive in full in time"
        ) from None


def json_body() -> dict[str, Any]:
    """The body as a JSON object: 415 if not JSON, 400 if malformed, 422 if not an object."""
    if not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        )
    raw = raw_body()
    try:
        body = strict_loads(raw)
    except RecursionError:
        raise ApiError(400, "invalid_json", "the body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body
