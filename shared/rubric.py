"""A rubric as data: items scored 1-5, 0/1 flags with weights, and the composite from them.

The composite is the sum of the items plus each flag times its weight; its range follows
from the rubric. tipbench computes it from the item scores and never takes it from a
judge or from a stored metric. tip-v1 (relevance + actionability + tone + 2*format_ok -
overlong, 2..17) is one rubric among the users', shipped in the tip-v1 suite file.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from itertools import product
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    StrictStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.base import Record

ITEM_MIN, ITEM_MAX = 1, 5
MAX_ITEMS, MAX_FLAGS = 12, 8
TEXT_LIMIT = 64 * 1024  # bytes of UTF-8, not characters: 64 KiB whatever the script
COMPOSITE = "composite"  # the composite's name as a metric and as MLflow feedback
# Names a score file, a metric or a packet already uses for something else.
RESERVED_SCORE_NAMES = frozenset({COMPOSITE, "rationale", "item_id"})
SCORE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
RUBRIC_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"

ScoreName = Annotated[str, StringConstraints(pattern=SCORE_NAME_PATTERN)]


def _within_text_limit(text: str) -> str:
    """The text, if its UTF-8 form fits TEXT_LIMIT."""
    size = len(text.encode("utf-8"))
    if size > TEXT_LIMIT:
        raise PydanticCustomError(
            "text_too_long",
            "{size} bytes in UTF-8; the limit is 64 KiB ({limit} bytes)",
            {"size": size, "limit": TEXT_LIMIT},
        )
    return text


# JSON Schema's maxLength counts characters, so the schema states a bound no text can pass
# (a character is at least one byte); the validator counts the bytes.
Text = Annotated[
    StrictStr,
    AfterValidator(_within_text_limit),
    Field(json_schema_extra={"maxLength": TEXT_LIMIT}),
]
Weight = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-100, le=100)]


class RubricItem(Record):
    """An integer criterion scored 1-5, with what (some of) its levels mean."""

    id: ScoreName = Field(description="Item id: the score file's field and the metric's name.")
    question: Text = Field(description="What the judge asks of the candidate.")
    levels: dict[int, Text] = Field(
        min_length=1, description="Score (1-5) -> what it means; at least one level."
    )

    @field_validator("levels")
    @classmethod
    def _levels_in_range(cls, levels: dict[int, str]) -> dict[int, str]:
        outside = sorted(k for k in levels if not ITEM_MIN <= k <= ITEM_MAX)
        if outside:
            raise ValueError(f"levels must be {ITEM_MIN}-{ITEM_MAX}, not {outside}")
        return dict(sorted(levels.items()))


class RubricFlag(Record):
    """A 0/1 flag and its weight in the composite."""

    id: ScoreName = Field(description="Flag id: the score file's field and the metric's name.")
    question: Text = Field(description="When the flag is 1.")
    weight: Weight = Field(description="What a 1 adds to the composite (negative: subtracts).")


class Rubric(Record):
    """A scoring rubric: items, flags, and the composite they make."""

    id: Annotated[str, StringConstraints(pattern=RUBRIC_ID_PATTERN)] = Field(
        description="Rubric id, e.g. tip-v1."
    )
    version: int = Field(1, ge=1, description="Version of this rubric id.")
    title: Text = Field("", description="What the rubric judges.")
    items: list[RubricItem] = Field(
        min_length=1, max_length=MAX_ITEMS, description="Items scored 1-5."
    )
    flags: list[RubricFlag] = Field(
        default_factory=list, max_length=MAX_FLAGS, description="0/1 flags with weights."
    )

    @model_validator(mode="after")
    def _names_unique(self) -> Rubric:
        names = [item.id for item in self.items] + [flag.id for flag in self.flags]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"item and flag ids must be unique; repeated: {repeated}")
        reserved = sorted(set(names) & RESERVED_SCORE_NAMES)
        if reserved:
            raise ValueError(f"{reserved} are reserved names; choose other ids")
        return self

    @property
    def item_ids(self) -> tuple[str, ...]:
        """The items' ids, in rubric order."""
        return tuple(item.id for item in self.items)

    @property
    def flag_ids(self) -> tuple[str, ...]:
        """The flags' ids, in rubric order."""
        return tuple(flag.id for flag in self.flags)

    @property
    def score_names(self) -> tuple[str, ...]:
        """Every score a judge gives: items, then flags."""
        return (*self.item_ids, *self.flag_ids)

    def composite(self, values: Mapping[str, float]) -> float:
        """The sum of the items plus each flag times its weight."""
        total = sum(float(values[item]) for item in self.item_ids)
        total += sum(flag.weight * float(values[flag.id]) for flag in self.flags)
        return round(total, 6)

    @cached_property
    def composite_range(self) -> tuple[float, float]:
        """The lowest and highest composite this rubric can give."""
        low = len(self.items) * ITEM_MIN + sum(min(0.0, f.weight) for f in self.flags)
        high = len(self.items) * ITEM_MAX + sum(max(0.0, f.weight) for f in self.flags)
        return round(low, 6), round(high, 6)

    @cached_property
    def composite_levels(self) -> tuple[float, ...]:
        """Every composite value the rubric can give, ascending (an ordinal scale)."""
        item_sums = range(len(self.items) * ITEM_MIN, len(self.items) * ITEM_MAX + 1)
        flag_sums = {
            round(sum(f.weight * bit for f, bit in zip(self.flags, bits, strict=True)), 6)
            for bits in product((0, 1), repeat=len(self.flags))
        }
        return tuple(sorted({round(i + f, 6) for i in item_sums for f in flag_sums}))

    def formula(self) -> str:
        """The composite as people read it, e.g. `relevance + tone + 2*format_ok - overlong`."""
        text = " + ".join(self.item_ids)
        for flag in self.flags:
            sign = "-" if flag.weight < 0 else "+"
            weight = abs(flag.weight)
            shown = "" if weight == 1 else f"{weight:g}*"
            text += f" {sign} {shown}{flag.id}"
        return text

    def check_scores(self, values: Mapping[str, Any], where: str) -> list[dict[str, str]]:
        """Every problem of one judge's scores against this rubric, each with its place."""
        problems = []
        for name in self.score_names:
            value = values.get(name)
            allowed = range(ITEM_MIN, ITEM_MAX + 1) if name in self.item_ids else range(0, 2)
            place = f"{where}.{name}"
            if value is None:
                problems.append({"field": place, "message": "missing"})
            elif type(value) is not int or value not in allowed:
                problems.append(
                    {
                        "field": place,
                        "message": f"must be an integer {allowed[0]}-{allowed[-1]}, not {value!r}",
                    }
                )
        for name in sorted(set(values) - set(self.score_names)):
            problems.append(
                {
                    "field": f"{where}.{name}",
                    "message": f"not in rubric {self.id}; it scores {list(self.score_names)}",
                }
            )
        return problems

    def verdict_schema(self) -> dict[str, Any]:
        """The JSON schema an LLM judge answers in: every item and flag, and a rationale."""
        properties: dict[str, Any] = {
            item: {"type": "integer", "minimum": ITEM_MIN, "maximum": ITEM_MAX}
            for item in self.item_ids
        }
        properties |= {flag: {"type": "integer", "enum": [0, 1]} for flag in self.flag_ids}
        properties["rationale"] = {"type": "string", "maxLength": 2000}
        return {
            "type": "object",
            "properties": properties,
            "required": [*self.score_names, "rationale"],
            "additionalProperties": False,
        }

    def example_scores(self) -> dict[str, int]:
        """A plausible score of every item and flag, for examples shown to judges."""
        values = {item: [4, 3, 5][i % 3] for i, item in enumerate(self.item_ids)}
        return values | {flag.id: 1 if flag.weight > 0 else 0 for flag in self.flags}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rubric:
        """A rubric from `as_dict()`'s output (the derived composite entry is dropped)."""
        return cls.model_validate({k: v for k, v in data.items() if k != "composite"})

    def as_dict(self) -> dict[str, Any]:
        """The rubric as JSON-ready data, with its formula and range, as stored with runs."""
        low, high = self.composite_range
        return self.model_dump(mode="json") | {
            "composite": {"formula": self.formula(), "min": low, "max": high}
        }
