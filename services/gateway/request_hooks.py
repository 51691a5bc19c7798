"""What happens around every request: the body's size limit, the client's address behind a
proxy, a request id, and the response's finishing touches (security headers)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import IO, Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.logs import new_request_id, request_id_var
from shared.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
# The pages load their script, style and data from the gateway only, are never framed,
# and post forms to the gateway only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
log = logging.getLogger("tipbench.gateway")


def add_request_hooks(app: Flask, settings: Settings) -> None:
    """Limit bodies, trust the configured proxies, tag each request, finish each response."""
    app.wsgi_app = BodyLimit(app.wsgi_app, settings.max_body_bytes)  # type: ignore[method-assign]
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops
        )
    app.before_request(_request_id)
    app.after_request(_finish_response)
    app.teardown_request(_forget_request_id)


class BodyLimit:
    """Refuse a body sent without Content-Length (chunked) once it passes the limit (413).

    With a Content-Length Flask refuses an oversized body before reading it; a chunked one
    it would cut at the limit and parse the first part as if it were whole.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self._app, self._limit = app, limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not environ.get("CONTENT_LENGTH") and "wsgi.input" in environ:
            environ["wsgi.input"] = _CappedInput(environ["wsgi.input"], self._limit)
        result: Iterable[bytes] = self._app(environ, start_response)
        return result


class _CappedInput:
    """A body stream that raises RequestEntityTooLarge when more than `limit` bytes come."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream, self._limit, self._read = stream, limit, 0

    def read(self, size: int | None = -1) -> bytes:
        data = self._stream.read() if size is None or size < 0 else self._stream.read(size)
        self._read += len(data)
        # At the limit, one more byte tells a body of exactly the limit from a longer one.
        if self._read > self._limit or (self._read == self._limit and self._stream.read(1)):
            raise RequestEntityTooLarge()
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = self._stream.readline() if size is None or size < 0 else self._stream.readline(size)
        self._read += len(data)
        if self._read > self._limit:
            raise RequestEntityTooLarge()
        return data


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
    _security_headers(response)
    if request.method not in ("GET", "HEAD") or response.status_code >= 500:
        log.info(
            "%s %s -> %s",
            request.method,
            request.url_rule.rule if request.url_rule else request.path[:200],
            response.status_code,
        )
    return response


def _security_headers(response: Response) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    endpoint = request.url_rule.endpoint if request.url_rule else ""
    if not endpoint.endswith("static"):  # pages and answers hold job data: never cached
        headers["Cache-Control"] = "no-store"


def _forget_request_id(_exc: BaseException | None) -> None:
    request_id_var.set(None)
