"""Prompts in the MLflow Prompt Registry: a suite's versions registered, registry prompts resolved.

A suite's prompt version is registered as `tipbench-<suite>-<version>`, a chat template
whose worked examples are filled in and whose request keeps its fields as {{variables}}
(an escaped brace, `{{`, is the literal brace the model gets); a new registry version is
made only when no version of that name has the same text yet. A bench request may also name
a registry prompt (`prompts:/name/3`, `prompts:/name@alias`): it is resolved once, at
submission, to a fixed version whose variables every chosen scenario must fill.
"""

from __future__ import annotations

import string

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from shared.errors import InvalidRequest
from shared.suite import BUILTIN_FIELDS, PromptVersion, Suite, leading_messages

PAGE_SIZE = 100  # registry versions read per request


def registry_name(suite: str, version: str) -> str:
    """The registry name of a suite's prompt version, e.g. tipbench-tip-v1-v2-mentor."""
    return f"tipbench-{suite}-{version}"


def registry_text(template: str) -> str:
    """A (validated) Python format template in the registry's syntax: each {field} becomes
    {{field}}, and an escaped brace ({{ or }}) the single literal brace the model gets."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(literal)
        if field is not None:
            parts.append(f"{{{{{field}}}}}")
    return "".join(parts)


def chat_template(prompt: PromptVersion, word_limit: int) -> list[dict[str, str]]:
    """The prompt as an MLflow chat template: worked examples filled in, {{variables}} left."""
    request = {"role": "user", "content": registry_text(prompt.user)}
    return [*leading_messages(prompt, word_limit), request]


def registered_uri(client: MlflowClient, name: str, template: list[dict[str, str]]) -> str | None:
    """The URI of a registry version of `name` whose template is this one (the newest such),
    whichever version is the latest; None if there is none (or no prompt `name`)."""
    token: str | None = None
    while True:
        try:
            page = client.search_prompt_versions(name, max_results=PAGE_SIZE, page_token=token)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        for found in page:  # newest first
            if found.template == template:
                return str(found.uri)
        token = page.token
        if not token:
            return None


def register_prompts(client: MlflowClient, suite: Suite) -> dict[str, str]:
    """Every prompt version of the suite in the registry: version -> its registry URI."""
    uris = {}
    for prompt in suite.prompts:
        name = registry_name(suite.suite, prompt.version)
        template = chat_template(prompt, suite.checks.word_limit)
        for attempt in range(2):
            # any version with this text, not only the latest: a prompt edited in MLflow's
            # UI, or a suite's older version run again, gets its own registry version back
            existing = registered_uri(client, name, template)
            if existing is not None:
                uris[prompt.version] = existing
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
