"""One JSON error shape for every refusal: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

import redis
from flask import Flask, Response, g, jsonify
from mlflow.exceptions import MlflowException
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge


class ApiError(Exception):
    """Raised by a route to refuse a request with a status, a code and a message."""

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


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as [{field, message}], field as a dotted path."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False)
    ]


def validation_error(exc: ValidationError) -> ApiError:
    """A 422 whose message names every invalid field."""
    details = validation_details(exc)
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return ApiError(422, "invalid_request", f"invalid request: {summary}", details)


def register_error_handlers(app: Flask) -> None:
    """Answer every error, HTTP or unexpected, with the JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        limit = app.config.get("MAX_CONTENT_LENGTH")
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
