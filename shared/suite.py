"""A suite: the user's scenarios, prompt versions, automatic checks and rubric, as data.

Templates are Python format strings whose fields are a scenario's `vars` plus `n_tips`
and `word_limit`; only plain names are allowed (no attributes, indexes, conversions or
format specs), so a template can neither reach into objects nor blow up its output.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import Field, StrictStr, StringConstraints

from shared.base import Record
from shared.rubric import Rubric, Text

SUITE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SUITE_VERSION_PATTERN = r"^[0-9a-f]{12}$"  # the first 12 hex digits of the content's sha256
SUITE_REF_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}(@[0-9a-f]{12})?$"  # name or name@version
SCENARIO_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$"
PROMPT_VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
VAR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_SCENARIOS, MAX_PROMPTS, MAX_EXAMPLES, MAX_VARS = 1000, 50, 10, 32
MAX_FILE_BYTES = 2 * 1024 * 1024
BUILTIN_FIELDS = ("n_tips", "word_limit")  # every template may use these

SuiteName = Annotated[str, StringConstraints(pattern=SUITE_NAME_PATTERN)]
VarName = Annotated[str, StringConstraints(pattern=VAR_NAME_PATTERN)]
FacetValue = Annotated[StrictStr, StringConstraints(min_length=1, max_length=128)]


class Checks(Record):
    """The automatic checks' settings."""

    n_tips: int = Field(3, ge=1, le=10, description="Default tips per answer.")
    word_limit: int = Field(30, ge=1, le=500, description="A tip over this many words is overlong.")


class Scenario(Record):
    """A fixed context: the variables its prompts are filled with."""

    id: Annotated[str, StringConstraints(pattern=SCENARIO_ID_PATTERN)] = Field(
        description="Unique id within the suite."
    )
    facets: dict[VarName, FacetValue] = Field(
        default_factory=dict,
        max_length=8,
        description="Facet -> value; the leaderboard breaks down by each facet.",
    )
    vars: dict[VarName, Text] = Field(
        max_length=MAX_VARS, description="Template field -> text given to the model."
    )


class Example(Record):
    """A worked example: a user turn rendered from `vars`, and the answer to imitate."""

    vars: dict[VarName, Text] = Field(max_length=MAX_VARS, description="The example's fields.")
    answer: Text = Field(min_length=1, description="The model answer to imitate.")

    def n_tips(self) -> int:
        """Tips in the example: `vars.n_tips` if given, else the answer's non-empty lines."""
        given = self.vars.get("n_tips")
        if given is not None and given.isdigit():
            return int(given)
        return sum(1 for line in self.answer.splitlines() if line.strip())


class PromptVersion(Record):
    """A prompt version: system text, user template, optional worked examples."""

    version: Annotated[str, StringConstraints(pattern=PROMPT_VERSION_PATTERN)] = Field(
        description="Unique name within the suite, e.g. v2-mentor."
    )
    description: Text = Field("", description="What this version changes.")
    system: Text = Field(description="System message.")
    user: Text = Field(min_length=1, description="User message template ({field} names).")
    examples: list[Example] = Field(
        default_factory=list, max_length=MAX_EXAMPLES, description="Few-shot turns."
    )


class Suite(Record):
    """A benchmark suite: scenarios x prompt versions, the checks and the rubric."""

    suite: SuiteName = Field(description="Suite name.")
    description: Text = Field("", description="What the suite is for.")
    checks: Checks = Field(default_factory=Checks, description="Automatic checks' settings.")
    scenarios: list[Scenario] = Field(
        min_length=1, max_length=MAX_SCENARIOS, description="The fixed contexts."
    )
    prompts: list[PromptVersion] = Field(
        min_length=1, max_length=MAX_PROMPTS, description="The prompt versions."
    )
    rubric: Rubric = Field(description="How judges score; default: tip-v1.")

    def content_version(self) -> str:
        """The version id: a hash of the suite's canonical JSON (same content, same id)."""
        return content_hash(self.model_dump(mode="json"))[:12]

    def prompt(self, version: str) -> PromptVersion:
        """A prompt version by name; KeyError names it if unknown."""
        for prompt in self.prompts:
            if prompt.version == version:
                return prompt
        raise KeyError(f"suite {self.suite} has no prompt version {version!r}")

    def scenario(self, scenario_id: str) -> Scenario:
        """A scenario by id; KeyError names it if unknown."""
        for found in self.scenarios:
            if found.id == scenario_id:
                return found
        raise KeyError(f"suite {self.suite} has no scenario {scenario_id!r}")

    def facet_names(self) -> list[str]:
        """Every facet some scenario declares, in first-seen order."""
        return list(dict.fromkeys(name for s in self.scenarios for name in s.facets))


class RenderedPrompt(Record):
    """The chat messages sent for one cell, with their hash."""

    messages: list[dict[str, str]] = Field(description="Chat messages, role and content.")
    sha256: str = Field(description="sha256 of the messages' canonical JSON.")


def content_hash(data: Any) -> str:
    """sha256 of data's canonical JSON."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def template_fields(template: str) -> tuple[list[str], list[str]]:
    """The field names a template uses, and the problems of fields that are not plain names."""
    names: list[str] = []
    problems: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [], [f"not a valid template: {exc} (write a literal brace as {{{{ or }}}})"]
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field or not field.isidentifier():
            problems.append(f"field {{{field}}} must be a plain name such as {{who}}")
        elif spec or conversion:
            problems.append(f"field {{{field}}} must not carry a format spec or conversion")
        else:
            names.append(field)
    return names, problems


def fill(template: str, values: Mapping[str, object]) -> str:
    """A template with its fields filled (validated templates only)."""
    return template.format_map(dict(values))


def _fields(vars_: Mapping[str, str], n_tips: int, word_limit: int) -> dict[str, object]:
    return {**vars_, "n_tips": n_tips, "word_limit": word_limit}


def leading_messages(prompt: PromptVersion, word_limit: int) -> list[dict[str, str]]:
    """The messages before the request: the system text and the worked examples."""
    messages = [{"role": "system", "content": prompt.system}]
    for example in prompt.examples:
        content = fill(prompt.user, _fields(example.vars, example.n_tips(), word_limit))
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": example.answer})
    return messages


def hashed(messages: list[dict[str, str]]) -> RenderedPrompt:
    """Messages with the sha256 of their canonical JSON (as tip-v1 has always hashed them)."""
    canonical = json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return RenderedPrompt(messages=messages, sha256=hashlib.sha256(canonical).hexdigest())


REGISTRY_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_registry_prompt(
    template: str | list[dict[str, str]], suite: Suite, scenario_id: str, n_tips: int
) -> RenderedPrompt:
    """A Prompt Registry template (text, or chat messages) with its {{fields}} filled from
    one of the suite's scenarios; a text template becomes one user message."""
    target = suite.scenario(scenario_id)
    values = _fields(target.vars, n_tips, suite.checks.word_limit)

    def filled(text: str) -> str:
        return REGISTRY_FIELD.sub(lambda m: str(values.get(m[1], m[0])), text)

    if isinstance(template, str):
        return hashed([{"role": "user", "content": filled(template)}])
    return hashed([{"role": m["role"], "content": filled(m["content"])} for m in template])


def render_prompt(suite: Suite, version: str, scenario_id: str, n_tips: int) -> RenderedPrompt:
    """The chat messages of one prompt version of the suite for one of its scenarios."""
    prompt = suite.prompt(version)
    word_limit = suite.checks.word_limit
    messages = leading_messages(prompt, word_limit)
    target = suite.scenario(scenario_id)
    request = fill(prompt.user, _fields(target.vars, n_tips, word_limit))
    messages.append({"role": "user", "content": request})
    return hashed(messages)


def repeated_ids(scenarios: Any, prompts: Any) -> list[dict[str, str]]:
    """Repeated scenario ids and prompt versions, read from the raw lists (a part that is
    invalid for another reason still counts)."""

    def ids(parts: Any, attribute: str) -> list[tuple[int, str]]:
        if not isinstance(parts, list):
            return []
        return [
            (i, str(part[attribute]))
            for i, part in enumerate(parts)
            if isinstance(part, dict) and isinstance(part.get(attribute), str)
        ]

    return _repeated(ids(scenarios, "id"), "scenarios", "id") + _repeated(
        ids(prompts, "version"), "prompts", "version"
    )


def semantic_problems(
    scenarios: list[tuple[int, Scenario]], prompts: list[tuple[int, PromptVersion]]
) -> list[dict[str, str]]:
    """What valid parts can still get wrong together: template fields.

    Takes the (index, part) pairs that are valid on their own, so a file with a broken
    part still gets every other problem reported.
    """
    problems: list[dict[str, str]] = []
    for p_index, prompt in prompts:
        for part in ("system", "user"):
            place = f"prompts[{p_index}].{part}"
            names, bad = template_fields(getattr(prompt, part))
            problems += [{"field": place, "message": message} for message in bad]
            if part == "system":
                # the system text is sent as written: a field there would reach the model raw
                problems += [
                    {"field": place, "message": f"fields are not filled in system texts: {{{n}}}"}
                    for n in dict.fromkeys(names)
                ]
                continue
            if scenarios:
                problems += _missing_fields(names, scenarios, place)
            for e_index, example in enumerate(prompt.examples):
                lacking = [n for n in dict.fromkeys(names) if n not in example.vars]
                lacking = [n for n in lacking if n not in BUILTIN_FIELDS]
                if lacking:
                    fields = ", ".join(f"{{{n}}}" for n in lacking)
                    problems.append(
                        {
                            "field": f"prompts[{p_index}].examples[{e_index}].vars",
                            "message": f"lacks {fields}, used by prompts[{p_index}].user",
                        }
                    )
    return problems


def _repeated(ids: list[tuple[int, str]], where: str, attribute: str) -> list[dict[str, str]]:
    seen: dict[str, int] = {}
    problems = []
    for index, value in ids:
        if value in seen:
            problems.append(
                {
                    "field": f"{where}[{index}].{attribute}",
                    "message": f"duplicate {attribute} {value!r} (first at {where}[{seen[value]}])",
                }
            )
        else:
            seen[value] = index
    return problems


def _missing_fields(
    names: Iterable[str], scenarios: list[tuple[int, Scenario]], place: str
) -> list[dict[str, str]]:
    problems = []
    for name in dict.fromkeys(names):
        if name in BUILTIN_FIELDS:
            continue
        lacking = [i for i, s in scenarios if name not in s.vars]
        if len(lacking) == len(scenarios):
            known = sorted({v for _, s in scenarios for v in s.vars} | set(BUILTIN_FIELDS))
            problems.append(
                {"field": place, "message": f"unknown field {{{name}}}; known: {known}"}
            )
        elif lacking:
            shown = ", ".join(f"scenarios[{i}]" for i in lacking[:5])
            more = f" and {len(lacking) - 5} more" if len(lacking) > 5 else ""
            problems.append(
                {"field": place, "message": f"field {{{name}}} is missing from {shown}{more}"}
            )
    return problems
