"""What happens around every request: a request id, and the response's finishing touches."""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request

from shared.logs import new_request_id, request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
log = logging.getLogger("tipbench.gateway")


def add_request_hooks(app: Flask) -> None:
    """Tag each request with an id (kept from X-Request-ID if sane); finish each response."""
    app.before_request(_request_id)
    app.after_request(_finish_response)
    app.teardown_request(_forget_request_id)


def _request_id() -> None:
    g.request_id = new_request_id(request.headers.get(REQUEST_ID_HEADER))
    request_id_var.set(g.request_id)


def _finish_response(response: Response) -> Response:
    # A refusal (401, 415...) can come before the body is read: drain what is left so
    # the next request on this keep-alive connection starts where it should; a body
    # too large to drain closes the connection instead.
    try:
        request.stream.read()
    except Exception:  # noqa: BLE001 - whatever the stream says, closing is safe
        response.headers["Connection"] = "close"
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.method not in ("GET", "HEAD") or response.status_code >= 500:
        log.info(
            "%s %s -> %s",
            request.method,
            request.url_rule.rule if request.url_rule else request.path[:200],
            response.status_code,
        )
    return response


def _forget_request_id(_exc: BaseException | None) -> None:
    request_id_var.set(None)
