"""Reading a suite file (YAML or JSON): every problem with its place, and the built-in suites.

A problem names its place as a path (`prompts[1].user`) and, where the parser knows it,
the line of the file. YAML is read as YAML 1.2 (ruamel.yaml: `07:00` stays text, `no`
is not false); aliases are refused (a small file must not expand into a huge document),
as are duplicate keys.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any, TypeVar

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from shared.errors import SuiteInvalid
from shared.strictjson import strict_loads
from shared.suite import (
    MAX_FILE_BYTES,
    PromptVersion,
    Scenario,
    Suite,
    repeated_ids,
    semantic_problems,
)

BUILTIN_SUITES = ("tip-v1", "tip-v2")
DEFAULT_SUITE = "tip-v1"
Path = tuple[str | int, ...]
P = TypeVar("P", Scenario, PromptVersion)


def place(path: Path) -> str:
    """A path as people write it: `prompts[1].user`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(file)"


def _plain(node: Any, path: Path, lines: dict[Path, int]) -> Any:
    """ruamel's round-trip data as plain Python, noting the line of every path."""
    if isinstance(node, CommentedMap):
        plain = {}
        for key, value in node.items():
            line = node.lc.key(key)[0] + 1
            lines[(*path, str(key))] = line
            plain[str(key) if not isinstance(key, int) else key] = _plain(
                value, (*path, str(key)), lines
            )
        return plain
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            lines[(*path, index)] = node.lc.item(index)[0] + 1
            items.append(_plain(value, (*path, index), lines))
        return items
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def _line_of(path: Path, lines: dict[Path, int]) -> int | None:
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)


def parse_document(text: str, is_json: bool) -> tuple[Any, dict[Path, int]]:
    """A YAML 1.2 (no aliases, no duplicate keys) or strict JSON document, and the line of
    each path in it; SuiteInvalid naming the line if it cannot be read."""
    lines: dict[Path, int] = {}
    if is_json:
        try:
            return strict_loads(text), lines
        except (ValueError, RecursionError) as exc:
            raise SuiteInvalid([{"field": "(file)", "message": f"not valid JSON: {exc}"}]) from None
    try:
        for event in YAML().parse(text):
            if isinstance(event, AliasEvent):
                line = event.start_mark.line + 1
                raise SuiteInvalid(
                    [
                        {
                            "field": "(file)",
                            "message": "aliases (*name) are not allowed",
                            "line": line,
                        }
                    ]
                )
        data = _plain(YAML().load(text), (), lines)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = "duplicate key" if isinstance(exc, DuplicateKeyError) else "not valid YAML"
        message = f"{what}: {exc.problem or exc.context}"
        line = mark.line + 1 if mark is not None else None
        raise SuiteInvalid([{"field": "(file)", "message": message, "line": line}]) from None
    except YAMLError as exc:
        raise SuiteInvalid([{"field": "(file)", "message": f"not valid YAML: {exc}"}]) from None
    return data, lines


def parse_suite(text: str | bytes, *, is_json: bool = False) -> Suite:
    """A suite from a file's text; SuiteInvalid lists every problem with its place and line."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        raise SuiteInvalid(
            [{"field": "(file)", "message": f"{len(raw)} bytes; the limit is {limit} MiB"}]
        )
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteInvalid([{"field": "(file)", "message": f"not UTF-8: {exc}"}]) from None
    data, lines = parse_document(decoded, is_json)
    return suite_from_data(data, lines)


def suite_from_data(data: Any, lines: dict[Path, int] | None = None) -> Suite:
    """A suite from parsed data; SuiteInvalid lists every problem (with lines, if known)."""
    lines = lines or {}
    problems: list[dict[str, Any]] = []
    if not isinstance(data, dict):
        raise SuiteInvalid([{"field": "(file)", "message": "a suite file is a mapping"}])
    if "rubric" not in data and data.get("suite") not in BUILTIN_SUITES:
        data = {**data, "rubric": builtin_suite(DEFAULT_SUITE).rubric.model_dump(mode="json")}
    suite = None
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            path = tuple(error["loc"])
            problems.append({"field": place(path), "message": _message(error)})
    problems += repeated_ids(data.get("scenarios"), data.get("prompts"))
    problems += semantic_problems(
        _valid_parts(data.get("scenarios"), Scenario),
        _valid_parts(data.get("prompts"), PromptVersion),
    )
    if problems:
        for problem in problems:
            if problem.get("line") is None:
                problem["line"] = _line_of(_path_of(problem["field"]), lines)
        problems.sort(key=lambda p: (p["line"] is None, p["line"] or 0))
        raise SuiteInvalid(problems)
    assert suite is not None
    return suite


def _valid_parts(parts: Any, model: type[P]) -> list[tuple[int, P]]:
    """The (index, part) pairs of a list that are valid on their own."""
    found = []
    for index, part in enumerate(parts if isinstance(parts, list) else []):
        try:
            found.append((index, model.model_validate(part)))
        except ValidationError:
            continue  # reported by the whole file's validation
    return found


def _message(error: Any) -> str:
    if error["type"] in ("string_type", "string_sub_type") and isinstance(error["input"], int):
        return "must be text; quote it (YAML reads 07:00 or 2024 as a number)"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return str(error["msg"])


def _path_of(field: str) -> Path:
    path: list[str | int] = []
    for part in field.replace("]", "").replace("[", ".").split("."):
        if part:
            path.append(int(part) if part.isdigit() else part)
    return tuple(path)


@cache
def builtin_suite(name: str) -> Suite:
    """A suite shipped with tipbench (tip-v1, tip-v2), loaded like a user's file."""
    if name not in BUILTIN_SUITES:
        raise KeyError(f"no built-in suite {name!r}")
    text = resources.files("shared").joinpath("suites", f"{name}.yaml").read_text("utf-8")
    return parse_suite(text)


def suite_json_schema() -> dict[str, Any]:
    """The suite file's JSON Schema, generated from the models that validate it."""
    schema = Suite.model_json_schema()
    schema["$id"] = "suite.schema.json"
    schema["title"] = "tipbench suite file"
    schema["description"] = (
        "A tipbench suite: scenarios x prompt versions, the automatic checks and the rubric. "
        "YAML or JSON. The rubric is optional (default: tip-v1)."
    )
    schema.get("required", []).remove("rubric")
    return schema
