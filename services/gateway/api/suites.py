"""The suite routes: push a suite file (JSON or YAML), list suites and versions, read one."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify, request
from pydantic import Field

from services.gateway.api.body import json_body
from services.gateway.deps import deps
from services.gateway.errors import ApiError
from services.gateway.openapi import documented
from services.gateway.prompts import register_prompts
from shared.base import Record
from shared.errors import SuiteNotFound
from shared.stores.suites import SuiteRecord
from shared.suite import SUITE_NAME_PATTERN, Suite
from shared.suite_files import parse_suite, suite_from_data

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
SUITE_NAME = re.compile(SUITE_NAME_PATTERN)
SUITE_VERSION = re.compile(r"^[0-9a-f]{12}$")


class SuitePushed(SuiteRecord):
    """A pushed suite version."""

    created: bool = Field(description="False if the same content was already stored.")


class SuiteVersion(Record):
    """A stored suite version, whole."""

    record: SuiteRecord = Field(description="Its listing record.")
    suite: Suite = Field(description="The suite, as validated (the default rubric filled in).")


def _pushed_suite() -> Suite:
    """The body as a suite: YAML text with a YAML content type, else JSON."""
    if request.mimetype in YAML_TYPES:
        raw = request.get_data(cache=True)  # 413 past the size limit
        return parse_suite(raw)
    if not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the suite as JSON (application/json) or YAML (application/yaml)",
        )
    return suite_from_data(json_body())


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
    record, created = deps().suites.push(suite, lambda s: register_prompts(deps().mlflow, s))
    return jsonify(record.model_dump() | {"created": created}), 201 if created else 200


@documented(summary="Every suite, at its newest version.", response=list[SuiteRecord])
def list_suites() -> Response:
    """Every suite's newest version: the built-in ones, then the pushed ones by name."""
    return jsonify([r.model_dump() for r in deps().suites.newest()])


def _name(name: str) -> str:
    if not SUITE_NAME.fullmatch(name):
        raise SuiteNotFound(f"no suite {name!r}: names match {SUITE_NAME_PATTERN}")
    return name


@documented(summary="A suite's versions, newest first.", response=list[SuiteRecord], errors=(404,))
def suite_versions(name: str) -> Response:
    """The suite's versions, newest first."""
    return jsonify([r.model_dump() for r in deps().suites.versions(_name(name))])


@documented(summary="One suite version, whole.", response=SuiteVersion, errors=(404,))
def suite_version(name: str, version: str) -> Response:
    """A suite version: its record and its content."""
    if not SUITE_VERSION.fullmatch(version):
        raise SuiteNotFound(f"no version {version!r} of suite {name!r}: versions are 12 hex digits")
    suite = deps().suites.get(_name(name), version)
    record = next(r for r in deps().suites.versions(name) if r.version == version)
    return jsonify({"record": record.model_dump(), "suite": suite.model_dump(mode="json")})


def suite_json_schema() -> dict[str, Any]:
    """The suite file's JSON Schema, generated from the models that validate it."""
    schema = Suite.model_json_schema()
    schema["$id"] = "https://tipbench.invalid/suite.schema.json"
    schema["title"] = "tipbench suite file"
    schema["description"] = (
        "A tipbench suite: scenarios x prompt versions, the automatic checks and the rubric. "
        "YAML or JSON. The rubric is optional (default: tip-v1)."
    )
    schema.get("required", []).remove("rubric")
    return schema


@documented(summary="The suite file's JSON Schema.", response={"type": "object"})
def suite_schema() -> Response:
    """The JSON Schema of a suite file (generated from the models that validate it)."""
    return jsonify(suite_json_schema())
