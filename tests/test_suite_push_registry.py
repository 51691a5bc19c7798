"""Pushing a suite registers each of its prompt versions in the MLflow Prompt Registry."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from flask import Flask

from services.gateway.prompts import registry_name
from shared import tracking
from shared.settings import Settings
from tests.conftest import auth

EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "study-tips.yaml"
YAML = {"Content-Type": "application/yaml"} | auth()


def test_a_pushed_suite_has_a_registry_version_for_every_prompt(
    app: Flask, core_settings: Settings
) -> None:
    # Given the docs' example suite (prompts plain and coach) under a name of its own
    name = f"registered-{uuid.uuid4().hex[:6]}"
    text = EXAMPLE.read_text("utf-8").replace("suite: study-tips", f"suite: {name}", 1)
    client = app.test_client()
    # When it is pushed, then pushed again unchanged
    first = client.post("/api/bench/suites", data=text, headers=YAML)
    again = client.post("/api/bench/suites", data=text, headers=YAML)
    # Then each prompt version names one version of its own registry prompt
    assert (first.status_code, again.status_code) == (201, 200), first.text
    record = first.get_json()
    uris = record["prompt_uris"]
    assert sorted(uris) == sorted(record["prompts"]) == ["coach", "plain"]
    mlflow = tracking.make_client(core_settings)
    for version, uri in uris.items():
        found = re.fullmatch(rf"prompts:/{re.escape(registry_name(name, version))}/(\d+)", uri)
        assert found, uri
        registered = mlflow.load_prompt(uri)
        assert int(registered.version) == int(found[1])
        assert registered.tags["suite_version"] == record["version"]
        assert registered.tags["prompt_version"] == version
    # ... the same ones, from the second push and from the stored version
    assert again.get_json()["prompt_uris"] == uris
    stored = client.get(f"/api/bench/suites/{name}/{record['version']}", headers=auth())
    assert stored.get_json()["record"]["prompt_uris"] == uris
