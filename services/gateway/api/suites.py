"""The suite routes: push a suite file (JSON or YAML), list suites and versions, read one."""

from __future__ import annotations

from flask import Response, jsonify, request

from services.gateway.api.body import raw_body
from services.gateway.deps import deps
from services.gateway.errors import ApiError
from services.gateway.openapi import documented
from services.gateway.submit import store_suite
from shared.contracts import SuitePushed, SuiteRecord, SuiteVersion
from shared.suite import Suite
from shared.suite_files import parse_suite, suite_json_schema

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


def _pushed_suite() -> Suite:
    """The body as a suite file, read as `tipbench suite validate` reads one (the same
    limits, the same messages): YAML with a YAML content type, else JSON."""
    is_yaml = request.mimetype in YAML_TYPES
    if not is_yaml and not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the suite as JSON (application/json) or YAML (application/yaml)",
        )
    return parse_suite(raw_body(), is_json=not is_yaml)


@documented(
    summary="Push a suite file (JSON, or YAML with Content-Type: application/yaml).",
    body=Suite,
    body_media=YAML_TYPES,
    response=SuitePushed,
    status=201,
    also={200: SuitePushed},
    errors=(409,),
)
def push_suite() -> tuple[Response, int]:
    """Store a suite version (its id is a hash of its content) and register its prompts."""
    suite = _pushed_suite()
    record, created = store_suite(suite, deps())
    pushed = SuitePushed(**record.model_dump(), created=created)
    return jsonify(pushed.model_dump(mode="json")), 201 if created else 200


@documented(summary="Every suite, at its newest version.", response=list[SuiteRecord])
def list_suites() -> Response:
    """Every suite's newest version: the built-in ones, then the pushed ones by name."""
    return jsonify([r.model_dump() for r in deps().suites.newest()])


@documented(summary="A suite's versions, newest first.", response=list[SuiteRecord], errors=(404,))
def suite_versions(name: str) -> Response:
    """The suite's versions, newest first."""
    return jsonify([r.model_dump() for r in deps().suites.versions(name)])


@documented(summary="One suite version, whole.", response=SuiteVersion, errors=(404,))
def suite_version(name: str, version: str) -> Response:
    """A suite version: its record and its content."""
    suite = deps().suites.get(name, version)
    record = next(r for r in deps().suites.versions(name) if r.version == version)
    return jsonify(SuiteVersion(record=record, suite=suite).model_dump(mode="json"))


@documented(summary="The suite file's JSON Schema.", response={"type": "object"})
def suite_schema() -> Response:
    """The JSON Schema of a suite file (generated from the models that validate it)."""
    return jsonify(suite_json_schema())
