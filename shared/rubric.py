"""The tip-v1 rubric as data, and the composite score tipbench computes from it."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RUBRIC_ID = "tip-v1"
DIMENSIONS = ("relevance", "actionability", "tone")
FLAGS = ("format_ok", "overlong")


class Scale(BaseModel):
    """One 1..5 rubric dimension with its level texts."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    min: int = Field(description="Lowest score.")
    max: int = Field(description="Highest score.")
    question: str = Field(description="What the judge asks of the candidate.")
    levels: dict[str, str] = Field(description="What each score means.")


class Composite(BaseModel):
    """How the composite is computed, with its range."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    formula: str = Field(description="The formula, for people.")
    min: int = Field(description="Lowest possible composite.")
    max: int = Field(description="Highest possible composite.")


class Rubric(BaseModel):
    """A scoring rubric: scales, flags, word limit and composite formula."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(description="Rubric id, e.g. tip-v1.")
    version: int = Field(description="Version of this rubric id.")
    title: str = Field(description="What the rubric judges.")
    scales: dict[str, Scale] = Field(description="The 1..5 dimensions.")
    flags: dict[str, str] = Field(description="The 0/1 flags and their definitions.")
    word_limit: int = Field(description="Words per tip above which a tip is overlong.")
    composite: Composite = Field(description="The composite formula.")

    def as_dict(self) -> dict[str, Any]:
        """The rubric as JSON-ready data, as stored with every run and packet."""
        return self.model_dump(mode="json")


@cache
def load_rubric(rubric_id: str = RUBRIC_ID) -> Rubric:
    """Load a rubric shipped in shared/rubrics."""
    text = resources.files("shared").joinpath("rubrics", f"{rubric_id}.json").read_text("utf-8")
    return Rubric.model_validate(json.loads(text))


def composite(
    *, relevance: int, actionability: int, tone: int, format_ok: int, overlong: int
) -> int:
    """tip-v1 composite: relevance + actionability + tone + 2*format_ok - overlong."""
    return relevance + actionability + tone + 2 * format_ok - overlong
