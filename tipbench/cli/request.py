"""The bench request a `run` sends: flags and run files over the contract's defaults.

Each default lives in `BenchRequest` alone: a flag or key left unset is not sent, and
the gateway fills it in. The help texts read the defaults and descriptions from there.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.contracts import BenchRequest
from shared.errors import SuiteInvalid
from shared.gate import GATE_KEY, Gate, gate_problems, rows_named
from shared.suite_files import parse_document
from tipbench.cli.client import EXIT_USAGE, CliError
from tipbench.cli.display import problem_lines

REQUEST_FIELDS = BenchRequest.model_fields
# One way to pick scenarios: naming one of these (on the command line) replaces the other.
SCENARIO_CHOICE = ("scenarios", "n_scenarios")


def contract_default(name: str) -> Any:
    """The default the gateway applies to a field of the bench request."""
    return REQUEST_FIELDS[name].get_default(call_default_factory=True)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()  # as a run file writes it
    return " ".join(value) if isinstance(value, list) else str(value)


def field_help(name: str, example: str, default: Any = None) -> str:
    """A flag's help: the contract's description, its default, and an example."""
    description = REQUEST_FIELDS[name].description or ""
    default = contract_default(name) if default is None else default
    if default is None:
        said = "" if "default" in description.lower() else " Default: none."
    else:
        said = f" Default: {_shown(default)}."
    return f"{description}{said} E.g. {example}".replace("%", "%%")


def run_file_sample() -> str:
    """A sample run file, with the contract's defaults where the file leaves a key out."""
    return f"""\
A run file (-c FILE: YAML, or JSON if it ends in .json) holds the request's fields;
flags given on the command line override it, and a key left out takes its default:

  # bench.yaml
  suite: study-tips.yaml           # a suite file (relative to this file) or a stored name
  models: [tidy:1b, qwen2.5:1.5b]  # default: {_shown(contract_default("models"))}
  prompts: [plain, coach]          # default: every prompt version of the suite
  n_scenarios: 2                   # or scenarios: [freshman-eve]; default: all
  n_tips: 3                        # default: the suite's checks.n_tips
  temperature: {contract_default("temperature")}
  seed: {contract_default("seed")}
  repeats: {contract_default("repeats")}              # samples per cell (seeds seed, seed+1, ...)
  experiment: study                # default: {contract_default("experiment")}
  max_model_b: {contract_default("max_model_b")}
  allow_unknown_size: {_shown(contract_default("allow_unknown_size"))}
  judge: llm:qwen2.5:7b            # default: no LLM judge
  gate:                            # with --gate: exit 0 when every condition holds, else 1
    row: tidy:1b|coach             # model|prompt; default: every row (docs/ci.md)
    min_composite: {{value: 10, on: ci_low}}
    must_beat: {{row: tidy:1b|plain, by: 0.5}}

  tipbench run -c bench.yaml --watch
  tipbench run -c bench.yaml --gate
  tipbench run -c bench.yaml --models qwen2.5:0.5b --n-scenarios 1
"""


def add_request_flags(
    run: argparse.ArgumentParser,
    *,
    leave_out: tuple[str, ...] = (),
    own_defaults: Mapping[str, Any] | None = None,
) -> None:
    """The bench request's flags; each is absent from the parsed arguments unless given
    (or unless the command has a default of its own for it, in `own_defaults`)."""
    unset = argparse.SUPPRESS
    own_defaults = own_defaults or {}
    flags: list[tuple[str, dict[str, Any], str]] = [
        ("models", {"nargs": "+", "metavar": "MODEL"}, "--models tidy:1b qwen2.5:1.5b"),
        ("prompts", {"nargs": "+", "metavar": "PROMPT"}, "--prompts v1 prompts:/tips/3"),
        ("n_tips", {"type": int, "metavar": "N"}, "--n-tips 5"),
        ("temperature", {"type": float, "metavar": "T"}, "--temperature 0.2"),
        ("seed", {"type": int}, "--seed 7"),
        ("repeats", {"type": int, "metavar": "K"}, "--repeats 3"),
        ("experiment", {"metavar": "NAME"}, "--experiment study"),
        ("max_model_b", {"type": float, "metavar": "B"}, "--max-model-b 8"),
        ("allow_unknown_size", {"action": argparse.BooleanOptionalAction}, "--allow-unknown-size"),
        (
            "sizes",
            {"nargs": "+", "metavar": "MODEL=B", "type": declared_size},
            "--sizes openai:my-model=3.8",
        ),
        ("judge", {"metavar": "llm:MODEL"}, "--judge llm:qwen2.5:7b"),
    ]
    if "suite" not in leave_out:
        run.add_argument(
            "--suite",
            metavar="FILE_OR_NAME",
            default=unset,
            help="A suite file (checked and pushed first), or a stored suite: name (its newest"
            f" version) or name@version. Default: {contract_default('suite')}."
            " E.g. --suite study-tips.yaml, --suite tip-v2",
        )
    for name, options, example in flags:
        if name in leave_out:
            continue
        default = own_defaults.get(name)
        text = field_help(name, example, default)
        flag = f"--{name.replace('_', '-')}"
        run.add_argument(flag, default=unset if default is None else default, help=text, **options)
    if "scenarios" not in leave_out:
        pick = run.add_mutually_exclusive_group()
        pick.add_argument(
            "--scenarios",
            nargs="+",
            metavar="ID",
            default=unset,
            help=field_help("scenarios", "--scenarios student@morning nurse@evening"),
        )
        pick.add_argument(
            "--n-scenarios",
            type=int,
            metavar="N",
            default=unset,
            help=field_help("n_scenarios", "--n-scenarios 2"),
        )


def declared_size(text: str) -> tuple[str, float]:
    """`MODEL=B` of --sizes: a model and its size in billions of parameters."""
    model, equals, billions = text.rpartition("=")
    try:
        if not (model and equals):
            raise ValueError
        return model, float(billions)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give MODEL=BILLIONS, e.g. openai:my-model=3.8"
        ) from None


def given_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The request's fields given on the command line (and only those)."""
    given = {name: getattr(args, name) for name in REQUEST_FIELDS if hasattr(args, name)}
    if "sizes" in given:
        given["sizes"] = dict(given["sizes"])
    return given


def request_body(flags: dict[str, Any], from_file: dict[str, Any]) -> dict[str, Any]:
    """The request to send: the run file's fields, overridden by the flags; nothing unset."""
    body = dict(from_file)
    if any(name in flags for name in SCENARIO_CHOICE):
        for name in SCENARIO_CHOICE:
            body.pop(name, None)
    return body | flags


@dataclass(frozen=True)
class RunFile:
    """A run file's request fields, its gate, and the folder its relative suite path starts
    from."""

    path: Path
    values: dict[str, Any]
    gate: Gate | None = None

    @property
    def folder(self) -> Path:
        """Where a relative suite file is looked for."""
        return self.path.parent


def read_run_file(path: Path) -> RunFile:
    """A run file's fields; CliError (exit 2) naming an unknown key or a malformed file."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8: {exc}"
        raise CliError(f"{path}: cannot read: {reason or exc}", EXIT_USAGE) from None
    try:
        data, lines = parse_document(text, path.suffix.lower() == ".json")
    except SuiteInvalid as exc:
        raise CliError("", EXIT_USAGE, problem_lines(path, exc.problems)) from None
    if not isinstance(data, dict):
        raise CliError(f"{path}: a run file is a mapping of request fields", EXIT_USAGE)
    known = ", ".join([*REQUEST_FIELDS, GATE_KEY])
    problems = [
        {
            "field": str(key),
            "line": lines.get((str(key),)),
            "message": f"unknown key; known: {known}",
        }
        for key in data
        if key not in REQUEST_FIELDS and key != GATE_KEY
    ]
    raw_gate = data.pop(GATE_KEY, None)
    gate_found = gate_problems(raw_gate, lines) if raw_gate is not None else []
    problems += gate_found
    gate = Gate.model_validate(raw_gate) if raw_gate is not None and not gate_found else None
    if gate:
        problems += _rows_outside_run(gate, data, lines)
    if "suite" in data and not isinstance(data["suite"], str):
        problems.append(
            {"field": "suite", "line": lines.get(("suite",)), "message": "must be text"}
        )
    if problems:
        raise CliError("", EXIT_USAGE, problem_lines(path, problems))
    return RunFile(path=path, values=data, gate=gate)


def _rows_outside_run(
    gate: Gate, data: dict[str, Any], lines: dict[Any, int]
) -> list[dict[str, Any]]:
    """The gate's rows whose model or prompt the run file's lists leave out (a list the
    file does not give takes the gateway's default, which is not known here)."""
    problems = []
    for model, prompt in rows_named(gate):
        for field, value in (("models", model), ("prompts", prompt)):
            given = data.get(field)
            if isinstance(given, list) and value not in given:
                problems.append(
                    {
                        "field": GATE_KEY,
                        "line": lines.get((GATE_KEY,)),
                        "message": f"row {model}|{prompt}: {value!r} is not in {field}"
                        f" ({', '.join(map(str, given))})",
                    }
                )
    return problems
