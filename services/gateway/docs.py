"""The API's description, public: the OpenAPI document and a page rendered from it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template

from services.gateway.openapi import build_spec


def docs_blueprint() -> Blueprint:
    """The description's blueprint `docs`: /api/openapi.json and /api/docs, public."""
    docs = Blueprint("docs", __name__)
    docs.add_url_rule("/api/openapi.json", view_func=openapi_json, methods=["GET"])
    docs.add_url_rule("/api/docs", view_func=openapi_docs, methods=["GET"])
    return docs


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
