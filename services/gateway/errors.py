"""One JSON error shape for every refusal: {"error": {"code", "message", "details"}}.

Routes and pages raise named failures (shared/errors.py) and never choose a status: the
ANSWERS table below does, once. ApiError is for refusals of the HTTP exchange itself
(credentials, media type, malformed JSON, rate limits).
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, Response, g, jsonify, request
from mlflow.exceptions import MlflowException
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from shared.errors import (
    Conflict,
    InvalidExperimentName,
    InvalidFormat,
    InvalidJudgeId,
    InvalidRequest,
    InvalidScores,
    JobEnded,
    LeaderboardRebuilding,
    ModelRefused,
    NotFound,
    SuiteInvalid,
    SuiteMismatch,
    SuiteReserved,
    TipbenchError,
    TooManyCells,
)


class ApiError(Exception):
    """Raised when the HTTP exchange itself is refused, with a status, a code and a message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    """A JSON error response."""
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    return response


# The one table from named failures to answers: (status, code). A failure is answered by
# the nearest of its classes listed here; one with none listed is an internal error.
ANSWERS: dict[type[TipbenchError], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    JobEnded: (409, "job_ended"),
    LeaderboardRebuilding: (503, "leaderboard_rebuilding"),
    InvalidRequest: (422, "invalid_request"),
    TooManyCells: (422, "too_many_cells"),
    ModelRefused: (422, "model_refused"),
    InvalidExperimentName: (422, "invalid_experiment"),
    InvalidJudgeId: (422, "invalid_judge"),
    InvalidFormat: (422, "invalid_format"),
    InvalidScores: (422, "invalid_scores"),
    SuiteInvalid: (422, "invalid_suite"),
    SuiteMismatch: (409, "suite_mismatch"),
    SuiteReserved: (409, "suite_reserved"),
}


def answer_for(exc: TipbenchError) -> tuple[int, str] | None:
    """The (status, code) that answers a named failure, None if it is not a refusal."""
    for kind in type(exc).__mro__:
        if kind in ANSWERS:
            return ANSWERS[kind]
    return None


def refusal_status(exc: TipbenchError) -> int:
    """The HTTP status of a named failure, for a page that shows it on its form (500 if
    it is not a refusal, as the error handler would answer it)."""
    return (answer_for(exc) or (500, ""))[0]


# A body over the limit is read and dropped, up to this much, before its 413 goes out: the
# connection is closed after the answer, and a client still sending would otherwise get a
# reset instead of the answer (gunicorn answers before the body has arrived).
DRAIN_LIMIT_BYTES = 16 * 1024 * 1024


def drain_body(environ: dict[str, Any]) -> None:
    """Read what is left of the request's body (up to DRAIN_LIMIT_BYTES), for nothing."""
    stream = environ.get("wsgi.input")
    left = DRAIN_LIMIT_BYTES
    try:
        while stream is not None and left > 0:
            chunk = stream.read(min(65536, left))
            if not chunk:
                return
            left -= len(chunk)
    except Exception:  # noqa: BLE001 - the client left, was too slow or sent a broken body
        return


def register_error_handlers(app: Flask) -> None:
    """Answer every error, named, HTTP or unexpected, with the JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        drain_body(request.environ)
        return error_response(
            413,
            "request_entity_too_large",
            f"the request body is larger than the limit of {limit} bytes",
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(exc.code or 500, code, exc.description or exc.name)
        for header in ("WWW-Authenticate", "Allow"):
            if exc.get_response().headers.get(header):
                response.headers[header] = exc.get_response().headers[header]
        return response

    @app.errorhandler(MlflowException)
    def _mlflow_error(exc: MlflowException) -> Response:
        app.logger.error("MLflow refused or is unreachable: %s", exc)
        return error_response(
            503, "mlflow_unavailable", f"the MLflow tracking server failed: {exc.message[:300]}"
        )

    @app.errorhandler(redis.RedisError)
    def _redis_error(exc: redis.RedisError) -> Response:
        app.logger.error("Redis is unreachable: %s", exc)
        return error_response(503, "redis_unavailable", f"Redis failed: {exc}")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        request_id = g.get("request_id", "")
        return error_response(
            500, "internal_error", f"internal error; see the gateway log (request id {request_id})"
        )

    @app.errorhandler(TipbenchError)
    def _named_failure(exc: TipbenchError) -> Response:
        answer = answer_for(exc)
        if answer is None:
            return _unexpected(exc)
        problems = getattr(exc, "problems", None)
        response = error_response(*answer, str(exc), problems or None)
        if retry_after := getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(retry_after)
        return response
