"""Register the suite's prompt versions in the MLflow Prompt Registry, once per content."""

from __future__ import annotations

import re

from mlflow.tracking import MlflowClient

from shared.suite import SUITE_VERSION, PromptVersion, leading_messages, prompt_versions

_FIELD = re.compile(r"\{(\w+)\}")


def registry_name(version: str) -> str:
    """The registry name of a suite prompt version, e.g. tipbench-tip-v1-v2-mentor."""
    return f"tipbench-{SUITE_VERSION}-{version}"


def chat_template(prompt: PromptVersion) -> list[dict[str, str]]:
    """The prompt as an MLflow chat template: worked examples filled in, {{variables}} left."""
    request = {"role": "user", "content": _FIELD.sub(r"{{\1}}", prompt.user)}
    return [*leading_messages(prompt), request]


def register_prompt(client: MlflowClient, version: str) -> str:
    """The registry URI of a prompt version, registering a new version if the text changed."""
    name = registry_name(version)
    template = chat_template(prompt_versions()[version])
    latest = client.load_prompt(name, allow_missing=True)
    if latest is not None and latest.template == template:
        return str(latest.uri)
    registered = client.register_prompt(
        name,
        template,
        commit_message=prompt_versions()[version].description,
        tags={"suite_version": SUITE_VERSION, "prompt_version": version},
    )
    return str(registered.uri)
