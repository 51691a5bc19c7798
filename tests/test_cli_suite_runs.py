"""Specs of `tipbench suite push|list|show` and of runs on a user's suite (real stack)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from shared.settings import Settings
from shared.suite_files import parse_suite
from tests.test_cli import tipbench

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "study-tips.yaml"


def own_suite(folder: Path, name: str, *, n_tips: int = 3) -> tuple[Path, str]:
    """The example suite under a name of this test's own, and its version."""
    text = EXAMPLE.read_text().replace("suite: study-tips", f"suite: {name}", 1)
    text = text.replace("n_tips: 3", f"n_tips: {n_tips}", 1)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path, parse_suite(text).content_version()


def test_a_pushed_suite_is_listed_shown_and_run_from_a_run_file(
    running_stack: Settings, tmp_path: Path
) -> None:
    # Given a suite file of our own
    name = f"cli-study-{uuid.uuid4().hex[:8]}"
    suite_file, version = own_suite(tmp_path, name)

    # When it is pushed, twice
    first = tipbench(running_stack, "suite", "push", str(suite_file))
    again = tipbench(running_stack, "suite", "push", str(suite_file))

    # Then it is stored once, under its content's version
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"suite {name}@{version}: pushed (new version)\n"
    assert again.stdout == f"suite {name}@{version}: already stored (same content)\n"

    # and listed after the built-in suites
    listing = tipbench(running_stack, "suite", "list")
    assert listing.returncode == 0, listing.stderr
    rows = [line.split() for line in listing.stdout.splitlines()[1:]]
    names = [row[0] for row in rows]
    assert names[:2] == ["tip-v1", "tip-v2"] and rows[0][-1] == "built-in"
    assert rows[names.index(name)][1:3] == [version, "2"]

    # and shown in full, its prompts with their registry versions
    show = tipbench(running_stack, "suite", "show", name)
    assert show.returncode == 0, show.stderr
    lines = show.stdout.splitlines()
    assert lines[0].startswith(f"suite {name}@{version} (pushed ")
    assert any(line.split()[:2] == ["freshman-eve", "who=freshman"] for line in lines)
    for prompt in ("plain", "coach"):
        line = next(line for line in lines if line.split()[0] == prompt)
        assert line.split()[1].startswith("prompts:/")
    assert "rubric study-v1 v1: composite 1..12" in lines
    assert "  flag overlong (x-1): Is any tip over the word limit?" in lines
    shown = json.loads(
        tipbench(running_stack, "suite", "show", f"{name}@{version}", "--json").stdout
    )
    assert shown["record"]["version"] == version and shown["suite"]["suite"] == name

    # When a run file beside it names the file, run from another folder
    (tmp_path / "bench.yaml").write_text(
        f"suite: {suite_file.name}\nmodels: [tidy:1b]\nn_scenarios: 2\nexperiment: cli-suite\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = tipbench(
        running_stack, "run", "-c", "../bench.yaml", "--seed", "7", "--watch", cwd=elsewhere
    )

    # Then the file is found beside the run file, and every prompt of the suite is run
    assert run.returncode == 0, run.stderr
    assert f"suite {name}@{version}: already stored (same content)" in run.stdout
    assert "job finished: 4/4 cells (0 failed)" in run.stdout
    table = [line.split() for line in run.stdout.splitlines() if line.startswith("-  ")]
    assert sorted(row[3] for row in table) == ["coach", "plain"]


def test_run_pushes_a_suite_file_given_as_a_flag(running_stack: Settings, tmp_path: Path) -> None:
    name = f"cli-flag-{uuid.uuid4().hex[:8]}"
    suite_file, version = own_suite(tmp_path, name, n_tips=2)
    run = tipbench(
        running_stack,
        *("run", "--suite", str(suite_file), "--models", "tidy:1b", "--prompts", "coach"),
        *("--scenarios", "parent-morning", "--experiment", "cli-suite-flag", "--watch"),
    )
    assert run.returncode == 0, run.stderr
    assert f"suite {name}@{version}: pushed (new version)" in run.stdout
    assert "job finished: 1/1 cells (0 failed)" in run.stdout


def test_suite_push_of_a_built_in_name_is_refused(running_stack: Settings, tmp_path: Path) -> None:
    suite_file, _ = own_suite(tmp_path, "tip-v1")
    refused = tipbench(running_stack, "suite", "push", str(suite_file))
    assert refused.returncode == 2
    assert "tip-v1" in refused.stderr


def test_suite_show_of_an_unknown_suite_exits_2(running_stack: Settings) -> None:
    missing = tipbench(running_stack, "suite", "show", f"nope-{uuid.uuid4().hex[:8]}")
    assert missing.returncode == 2 and "404" in missing.stderr
