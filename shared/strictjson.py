"""JSON as people send it, read strictly: a duplicate key or NaN/Infinity is an error.

Python's json keeps the last of two equal keys and accepts NaN; both hide mistakes in
a request body or a score file, so the gateway and the CLI refuse them.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def strict_loads(text: str | bytes) -> Any:
    """json.loads that raises ValueError on a duplicate key or a NaN/Infinity constant."""
    return json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)
