"""The bench suite tip-v1: personas, time slots, the scenarios they make, and prompt versions."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.rubric import load_rubric

SUITE_VERSION = "tip-v1"


class Persona(BaseModel):
    """Who the tips are for."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(description="Short stable id.")
    name: str = Field(description="Display name.")
    description: str = Field(description="The context given to the model.")


class TimeSlot(BaseModel):
    """When the tips are for."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(description="Short stable id.")
    label: str = Field(description="Clock time and day, as given to the model.")
    description: str = Field(description="What the moment is like.")


class Scenario(BaseModel):
    """A fixed context: one persona at one time slot."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(description="`<persona>@<time slot>`.")
    persona: Persona = Field(description="The persona.")
    time_slot: TimeSlot = Field(description="The time slot.")


class FewShotExample(BaseModel):
    """A worked example shown before the real request."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    persona_description: str = Field(description="Example persona.")
    time_label: str = Field(description="Example time label.")
    time_description: str = Field(description="Example time description.")
    tips: list[str] = Field(description="The model answer to imitate.")


class PromptVersion(BaseModel):
    """A prompt template: system text, user template, optional worked examples."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str = Field(description="Version name, e.g. v2-mentor.")
    description: str = Field(description="What this version changes.")
    system: str = Field(description="System message.")
    user: str = Field(description="User message template (str.format fields).")
    examples: list[FewShotExample] = Field(description="Worked examples (few-shot).")


class RenderedPrompt(BaseModel):
    """The chat messages sent for one cell, with their hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    messages: list[dict[str, str]] = Field(description="Chat messages, role and content.")
    sha256: str = Field(description="sha256 of the messages' canonical JSON.")


def _suite_json(*parts: str) -> Any:
    path = resources.files("shared").joinpath("suite", SUITE_VERSION, *parts)
    return json.loads(path.read_text("utf-8"))


@cache
def personas() -> tuple[Persona, ...]:
    """The suite's personas, in file order."""
    return tuple(Persona.model_validate(p) for p in _suite_json("personas.json"))


@cache
def time_slots() -> tuple[TimeSlot, ...]:
    """The suite's time slots, in file order."""
    return tuple(TimeSlot.model_validate(t) for t in _suite_json("time_slots.json"))


@cache
def scenarios() -> tuple[Scenario, ...]:
    """All scenarios in a fixed order in which any prefix mixes personas and time slots."""
    slots = time_slots()
    ordered: list[Scenario] = []
    # Round k pairs persona i with slot (i + k) mod |slots|: the first |personas| scenarios
    # already cover every persona and every slot, so `n_scenarios=4` is a fair sample.
    for k in range(len(slots)):
        for i, persona in enumerate(personas()):
            slot = slots[(i + k) % len(slots)]
            ordered.append(Scenario(id=f"{persona.id}@{slot.id}", persona=persona, time_slot=slot))
    return tuple(ordered)


def scenario(scenario_id: str) -> Scenario:
    """One scenario by id; KeyError names it if unknown."""
    for candidate in scenarios():
        if candidate.id == scenario_id:
            return candidate
    raise KeyError(f"unknown scenario {scenario_id!r}")


@cache
def prompt_versions() -> dict[str, PromptVersion]:
    """The suite's prompt versions by name."""
    folder = resources.files("shared").joinpath("suite", SUITE_VERSION, "prompts")
    found = (
        PromptVersion.model_validate(json.loads(entry.read_text("utf-8")))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    )
    return {p.version: p for p in sorted(found, key=lambda p: p.version)}


def leading_messages(prompt: PromptVersion) -> list[dict[str, str]]:
    """The messages before the request: the system text and the worked examples, if any."""
    word_limit = load_rubric().word_limit
    messages = [{"role": "system", "content": prompt.system}]
    for example in prompt.examples:
        messages.append(
            {
                "role": "user",
                "content": prompt.user.format(
                    n_tips=len(example.tips),
                    persona_description=example.persona_description,
                    time_label=example.time_label,
                    time_description=example.time_description,
                    word_limit=word_limit,
                ),
            }
        )
        answer = "\n".join(f"{i}. {tip}" for i, tip in enumerate(example.tips, start=1))
        messages.append({"role": "assistant", "content": answer})
    return messages


def render_prompt(version: str, target: Scenario, n_tips: int) -> RenderedPrompt:
    """Render the chat messages of one prompt version for one scenario."""
    prompt = prompt_versions()[version]
    messages = leading_messages(prompt)
    messages.append(
        {
            "role": "user",
            "content": prompt.user.format(
                n_tips=n_tips,
                persona_description=target.persona.description,
                time_label=target.time_slot.label,
                time_description=target.time_slot.description,
                word_limit=load_rubric().word_limit,
            ),
        }
    )
    canonical = json.dumps(messages, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return RenderedPrompt(messages=messages, sha256=hashlib.sha256(canonical).hexdigest())
