"""Specs of the `tipbench` command's offline parts: suite files, run files, the request sent.

No stack: `suite validate` needs no gateway, and a bad run file is refused before any
request is made (the gateway's port here is one nothing listens on).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.contracts import BenchRequest
from shared.suite_files import parse_suite
from testkit.processes import free_port
from tipbench.cli import parser
from tipbench.cli.request import given_flags, request_body

TIPBENCH = str(Path(sys.executable).parent / "tipbench")
EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "study-tips.yaml"


def tipbench(
    *args: str, cwd: Path | None = None, token: bool = True
) -> subprocess.CompletedProcess[str]:
    """The real command, with a gateway that does not answer (and no admin token if asked)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPBENCH_")}
    env |= {
        "TIPBENCH_GATEWAY_PORT": str(free_port()),
        "TIPBENCH_ADMIN_TOKEN": "cli-test-token-0123456789" if token else "",
    }
    return subprocess.run(
        [TIPBENCH, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


BAD_SUITE = """\
suite: study-tips
scenarios:
  - id: eve
    vars: {who: A student.}
  - id: eve
    vars: {who: A parent.}
prompts:
  - version: plain
    system: Short tips.
    user: "Who: {who}, when: {when}"
colour: blue
"""


def test_suite_validate_sums_up_a_good_file() -> None:
    # Given the documented example suite
    version = parse_suite(EXAMPLE.read_text()).content_version()
    # When it is validated, with no token and no gateway
    result = tipbench("suite", "validate", str(EXAMPLE), token=False)
    # Then one summary line
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"{EXAMPLE}: ok — suite study-tips version {version}: 2 scenarios, 2 prompts,"
        " rubric study-v1 (composite 1..12)\n"
    )


def test_suite_validate_reads_a_json_file(tmp_path: Path) -> None:
    suite = parse_suite(EXAMPLE.read_text())
    as_json = tmp_path / "study.json"
    as_json.write_text(suite.model_dump_json(indent=2))
    result = tipbench("suite", "validate", str(as_json))
    assert result.returncode == 0, result.stderr
    assert f"version {suite.content_version()}" in result.stdout


def test_suite_validate_names_every_problem_by_file_line_and_place(tmp_path: Path) -> None:
    # Given a suite with a repeated scenario id, an unknown key and an unknown template field
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_SUITE)
    # When it is validated
    result = tipbench("suite", "validate", str(bad), cwd=tmp_path)
    # Then exit 2, and one FILE:LINE: place: message line per problem, nothing else
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert f"{bad}:11: colour: unknown field" in lines
    assert any(line.startswith(f"{bad}:5: scenarios[1].id: duplicate id 'eve'") for line in lines)
    assert any(
        line.startswith(f"{bad}:10: prompts[0].user: unknown field {{when}}") for line in lines
    )
    assert len(lines) == 3 and result.stdout == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("suite: [unclosed\n", ":2: (file): not valid YAML"),
        ("base: &b {id: x}\nother: *b\n", ":2: (file): aliases (*name) are not allowed"),
        ("suite: a\nsuite: b\n", ":2: (file): duplicate key"),
        ("- just\n- a list\n", ": (file): a suite file is a mapping"),
    ],
    ids=["syntax", "alias", "duplicate-key", "not-a-mapping"],
)
def test_suite_validate_refuses_a_malformed_file(tmp_path: Path, text: str, expected: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = tipbench("suite", "validate", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}{expected}"), result.stderr


def test_suite_validate_refuses_an_unreadable_file(tmp_path: Path) -> None:
    result = tipbench("suite", "validate", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory" in result.stderr


def test_suite_push_checks_the_file_before_calling_the_gateway(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_SUITE)
    result = tipbench("suite", "push", str(bad))
    assert result.returncode == 2  # not 3: the unreachable gateway was never called
    assert f"{bad}:11: colour: unknown field" in result.stderr.splitlines()


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bench.yaml", "models: [tidy:1b]\nmodles: [x]\n", "bench.yaml:2: modles: unknown key"),
        ("bench.json", '{"models": ["tidy:1b"], "watch": true}', "bench.json: watch: unknown key"),
        ("bench.yaml", "suite: 3\n", "bench.yaml:1: suite: must be text"),
        ("bench.yaml", "m: &m [a]\nmodels: *m\n", "bench.yaml:2: (file): aliases"),
        ("bench.yaml", "models: [a\n", "bench.yaml:2: (file): not valid YAML"),
        ("bench.json", '{"seed": 1, "seed": 2}', "bench.json: (file): not valid JSON"),
        ("bench.yaml", "- tidy:1b\n", "bench.yaml: a run file is a mapping"),
    ],
    ids=["unknown-key", "unknown-json-key", "suite-not-text", "alias", "syntax", "dup", "list"],
)
def test_run_refuses_a_bad_run_file_naming_the_key(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    (tmp_path / name).write_text(text)
    result = tipbench("run", "-c", name, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr, result.stderr


def test_run_refuses_a_suite_that_is_neither_a_file_nor_a_name(tmp_path: Path) -> None:
    (tmp_path / "bench.yaml").write_text("suite: missing.yaml\n")
    result = tipbench("run", "-c", "bench.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "suite 'missing.yaml': no such file" in result.stderr


def flags(*argv: str) -> dict[str, Any]:
    return given_flags(parser().parse_args(["run", *argv]))


@pytest.mark.parametrize(
    ("argv", "from_file", "sent"),
    [
        ([], {}, {}),
        (["--models", "tidy:1b"], {}, {"models": ["tidy:1b"]}),
        ([], {"seed": 3, "suite": "tip-v2"}, {"seed": 3, "suite": "tip-v2"}),
        (["--seed", "7"], {"seed": 3, "n_tips": 2}, {"seed": 7, "n_tips": 2}),
        (["--n-scenarios", "2"], {"scenarios": ["a"]}, {"n_scenarios": 2}),
        (["--scenarios", "b"], {"n_scenarios": 5}, {"scenarios": ["b"]}),
        (["--no-allow-unknown-size"], {"allow_unknown_size": True}, {"allow_unknown_size": False}),
        (["--watch"], {}, {}),
    ],
    ids=[
        "nothing",
        "one-flag",
        "file",
        "flag-over-file",
        "n-over-ids",
        "ids-over-n",
        "bool",
        "watch",
    ],
)
def test_request_body_sends_only_what_was_given(
    argv: list[str], from_file: dict[str, Any], sent: dict[str, Any]
) -> None:
    assert request_body(flags(*argv), from_file) == sent


def test_request_flags_are_the_contract_fields() -> None:
    given = flags(
        *("--suite", "tip-v2", "--models", "a", "b", "--prompts", "v1", "--n-scenarios", "1"),
        *("--n-tips", "2", "--temperature", "0.1", "--seed", "5", "--repeats", "2"),
        *("--experiment", "x"),
        *("--max-model-b", "2", "--allow-unknown-size", "--judge", "llm:j"),
        *("--sizes", "a=1.5"),
    )
    assert set(given) == set(BenchRequest.model_fields) - {"scenarios"}
    assert given["sizes"] == {"a": 1.5}
    BenchRequest.model_validate(given)  # every flag has the contract's type


def test_run_help_shows_the_contract_defaults_and_a_run_file() -> None:
    result = tipbench("run", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    fields = BenchRequest.model_fields
    for name in ("temperature", "seed", "experiment", "max_model_b"):
        assert f"Default: {fields[name].default}." in text
    assert "Default: tip-v1." in text and "E.g. --temperature 0.2" in text
    assert "# bench.yaml" in result.stdout and "tipbench run -c bench.yaml --watch" in text
