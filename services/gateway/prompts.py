"""Prompts in the MLflow Prompt Registry: a suite's versions registered, registry prompts resolved.

A suite's prompt version is registered as `tipbench-<suite>-<version>`, a chat template
whose worked examples are filled in and whose request keeps its fields as {{variables}};
a new registry version is made only when the text changed. A bench request may also name
a registry prompt (`prompts:/name/3`, `prompts:/name@alias`): it is resolved once, at
submission, to a fixed version whose variables every chosen scenario must fill.
"""

from __future__ import annotations

import re

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from shared.errors import InvalidRequest
from shared.suite import BUILTIN_FIELDS, PromptVersion, Suite, leading_messages

_FIELD = re.compile(r"\{(\w+)\}")


def registry_name(suite: str, version: str) -> str:
    """The registry name of a suite's prompt version, e.g. tipbench-tip-v1-v2-mentor."""
    return f"tipbench-{suite}-{version}"


def chat_template(prompt: PromptVersion, word_limit: int) -> list[dict[str, str]]:
    """The prompt as an MLflow chat template: worked examples filled in, {{variables}} left."""
    request = {"role": "user", "content": _FIELD.sub(r"{{\1}}", prompt.user)}
    return [*leading_messages(prompt, word_limit), request]


def register_prompts(client: MlflowClient, suite: Suite) -> dict[str, str]:
    """Every prompt version of the suite in the registry: version -> its registry URI."""
    uris = {}
    for prompt in suite.prompts:
        name = registry_name(suite.suite, prompt.version)
        template = chat_template(prompt, suite.checks.word_limit)
        for attempt in range(2):
            # cache off: MLflow keeps "latest" and aliases for 60 s, and they move
            latest = client.load_prompt(name, allow_missing=True, cache_ttl_seconds=0)
            if latest is not None and latest.template == template:
                uris[prompt.version] = str(latest.uri)
                break
            try:
                registered = client.register_prompt(
                    name,
                    template,
                    commit_message=prompt.description or f"{suite.suite} {prompt.version}",
                    tags={
                        "suite": suite.suite,
                        "suite_version": suite.content_version(),
                        "prompt_version": prompt.version,
                    },
                )
            except MlflowException as exc:
                # Two first submissions at once: the other created the prompt; read it again.
                if exc.error_code != "RESOURCE_ALREADY_EXISTS" or attempt:
                    raise
                continue
            uris[prompt.version] = str(registered.uri)
            break
    return uris


def resolve_registry_prompt(
    client: MlflowClient, uri: str, scenario_vars: list[set[str]], field: str
) -> str:
    """The fixed URI (`prompts:/name/<n>`) of a registry prompt whose variables the scenarios
    fill; InvalidRequest naming the field otherwise."""
    try:
        found = client.load_prompt(uri, cache_ttl_seconds=0)  # an alias may have just moved
    except MlflowException as exc:
        raise InvalidRequest(
            f"{field}: no registry prompt {uri}", [{"field": field, "message": exc.message}]
        ) from None
    wanted = set(found.variables) - set(BUILTIN_FIELDS)
    lacking = sorted({name for have in scenario_vars for name in wanted - have})
    if lacking:
        message = f"{uri} uses {lacking}, which the chosen scenarios do not all define"
        raise InvalidRequest(f"{field}: {message}", [{"field": field, "message": message}])
    return f"prompts:/{found.name}/{found.version}"
