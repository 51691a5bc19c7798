"""The API's description, public: the OpenAPI document and a page rendered from it."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template

from services.gateway.openapi import build_spec


def add_docs(app: Flask) -> None:
    """Serve /api/openapi.json and /api/docs (endpoints `openapi_json`, `openapi_docs`)."""
    app.get("/api/openapi.json")(openapi_json)
    app.get("/api/docs")(openapi_docs)


def openapi_document() -> dict[str, Any]:
    """This app's OpenAPI document, built on first use (every route is registered by then)."""
    spec: dict[str, Any] | None = current_app.extensions.get("openapi")
    if spec is None:
        spec = current_app.extensions["openapi"] = build_spec(current_app)
    return spec


def openapi_json() -> Response:
    """The OpenAPI 3.1 document of this gateway."""
    return jsonify(openapi_document())


def openapi_docs() -> str:
    """The API's documentation as a page, rendered from the OpenAPI document."""
    return render_template("admin/api_docs.html", spec=openapi_document())
