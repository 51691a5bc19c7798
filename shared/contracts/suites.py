"""Suite versions as the API lists and returns them (stored by `shared/stores/suites.py`)."""

from __future__ import annotations

from pydantic import Field

from shared.base import Record
from shared.suite import Suite


class SuiteRecord(Record):
    """A stored suite version, as the API lists it."""

    suite: str = Field(description="Suite name.")
    version: str = Field(description="Version id: a hash of the suite's content.")
    created_at: float = Field(description="When this version was first pushed, Unix seconds.")
    builtin: bool = Field(description="Shipped with tipbench (not stored).")
    description: str = Field(description="What the suite is for.")
    n_scenarios: int = Field(description="Scenarios.")
    prompts: list[str] = Field(description="Prompt versions.")
    rubric_id: str = Field(description="The rubric's id.")
    prompt_uris: dict[str, str] = Field(
        description="Prompt version -> its version in the MLflow Prompt Registry."
    )


class SuitePushed(SuiteRecord):
    """A pushed suite version."""

    created: bool = Field(description="False if the same content was already stored.")


class SuiteVersion(Record):
    """A stored suite version, whole."""

    record: SuiteRecord = Field(description="Its listing record.")
    suite: Suite = Field(description="The suite, as validated (the default rubric filled in).")
