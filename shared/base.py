"""The one way tipbench configures its pydantic models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """Base of every contract and stored record: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Request(Record):
    """Base of what people send: strict types too (no "3" for 3, no "true" for true)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
