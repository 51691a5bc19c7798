"""Specs of `tipbench run --gate`, `tipbench compare` and GET /api/bench/compare on the
running stack: real processes, an LLM judge at the fake Ollama that marks rambling down."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from shared.settings import Settings
from tests.test_cli import tipbench

pytestmark = pytest.mark.slow

HOLDS = """\
models: [tidy:1b, rambler:2b]
prompts: [v1]
n_scenarios: 6
experiment: gate-holds
judge: llm:picky-judge:8b
gate:
  row: tidy:1b|v1
  min_composite: {value: 12, on: ci_low}
  max_overlong_rate: 0.1
  min_format_ok_rate: 0.9
  must_beat: {row: rambler:2b|v1, by: 0.5}
  max_failed_cells: 0
"""
FAILS = """\
models: [rambler:2b]
prompts: [v1]
n_scenarios: 3
experiment: gate-fails
judge: llm:picky-judge:8b
gate:
  min_composite: {value: 10, on: mean}
  max_overlong_rate: 0.5
  max_failed_cells: 0
"""


def run_file(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def gated(
    running_stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Both gates run to the end: one that holds and one that does not."""
    folder = tmp_path_factory.mktemp("gates")
    return {
        name: tipbench(running_stack, "run", "-c", run_file(folder, f"{name}.yaml", text), "--gate")
        for name, text in (("holds", HOLDS), ("fails", FAILS))
    }


def test_a_gate_that_holds_exits_0_with_one_line_per_condition(
    gated: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = gated["holds"]
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "waiting for llm:picky-judge:8b to score every run (at most 1800 s)" in lines
    assert "PASS  min_composite (ci_low) tidy:1b|v1: 14.00 >= 12.00" in lines
    assert "PASS  max_overlong_rate tidy:1b|v1: 0.00 <= 0.10" in lines
    assert "PASS  min_format_ok_rate tidy:1b|v1: 1.00 >= 0.90" in lines
    beat = next(line for line in lines if "must_beat" in line)
    assert beat.startswith("PASS  must_beat tidy:1b|v1 - rambler:2b|v1: +9.00 >= 0.50")
    assert "p 0.03, 6 shared scenarios" in beat
    assert "PASS  max_failed_cells job: 0 <= 0" in lines
    assert lines[-1] == "gate passed: 5/5"


def test_a_gate_that_fails_exits_1_and_says_which_condition(
    gated: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = gated["fails"]
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "FAIL  min_composite (mean) rambler:2b|v1: 5.00 >= 10.00" in lines
    assert "FAIL  max_overlong_rate rambler:2b|v1: 1.00 <= 0.50" in lines
    assert "PASS  max_failed_cells job: 0 <= 0" in lines
    assert lines[-1] == "gate FAILED: 1/3"


def test_compare_shows_the_known_difference_of_two_experiments(
    running_stack: Settings, gated: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    # Given the tidy row of one experiment and the rambling row of the other (14 vs 5)
    chosen = ("--row-a", "tidy:1b|v1", "--row-b", "rambler:2b|v1")
    result = tipbench(running_stack, "compare", "gate-holds", "gate-fails", *chosen, "--json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["rows"]
    # Then they are paired on the 3 scenarios both ran: 9 points apart on each
    assert (row["n_shared"], row["mean_a"], row["mean_b"]) == (3, 14.0, 5.0)
    assert (row["mean_diff"], row["ci_low"], row["ci_high"]) == (9.0, 9.0, 9.0)
    # and 3 pairs cannot be significant: the smallest sign-flip p is 2/2^3
    assert (row["p"], row["significant"]) == (0.25, False)
    assert "the smallest possible p is 0.25" in row["note"]

    table = tipbench(running_stack, "compare", "gate-holds", "gate-fails", *chosen)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[2].split() == [
        *("tidy:1b|v1", "rambler:2b|v1", "3", "14.00", "5.00", "+9.00", "9.00..9.00", "0.25"),
    ]

    # Within one experiment the 6 shared scenarios make the same difference significant
    within = tipbench(running_stack, "compare", "gate-holds", "gate-holds", *chosen, "--json")
    (row,) = json.loads(within.stdout)["rows"]
    assert (row["n_shared"], row["mean_diff"], row["p"], row["significant"]) == (
        6,
        9.0,
        0.03125,
        True,
    )

    # Matched by (model, prompt): the rambler against itself, the tidy row left over
    matched = json.loads(
        tipbench(running_stack, "compare", "gate-holds", "gate-fails", "--json").stdout
    )
    assert [(r["row_a"], r["mean_diff"], r["p"]) for r in matched["rows"]] == [
        ("rambler:2b|v1", 0.0, 1.0)
    ]
    assert matched["only_in_a"] == ["tidy:1b|v1"] and matched["only_in_b"] == []


def test_compare_refusals_say_what_was_wrong(
    api: httpx.Client, gated: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    missing = api.get("/api/bench/compare", params={"a": "gate-holds"})
    assert missing.status_code == 422
    assert missing.json()["error"]["details"] == [{"field": "b", "message": "required"}]
    unknown = api.get(
        "/api/bench/compare", params={"a": "gate-holds", "b": "gate-fails", "row_a": "tidy:1b|v9"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == (
        "row_a: no row 'tidy:1b|v9' in experiment 'gate-holds'; its rows: tidy:1b|v1, rambler:2b|v1"
    )
    malformed = api.get(
        "/api/bench/compare", params={"a": "gate-holds", "b": "gate-fails", "row_b": "tidy"}
    )
    assert malformed.status_code == 422 and "write it as model|prompt" in malformed.text
    nowhere = api.get("/api/bench/compare", params={"a": "gate-holds", "b": "no-such-exp"})
    assert nowhere.status_code == 404 and "no-such-exp" in nowhere.text
    # one judge's scores on both sides (the gate reads its own judge's), or a clear refusal
    both = {"a": "gate-holds", "b": "gate-fails"}
    judged = api.get("/api/bench/compare", params=both | {"judge": "llm:picky-judge:8b"})
    assert judged.status_code == 200 and judged.json()["rows"], judged.text
    unjudged = api.get("/api/bench/compare", params=both | {"judge": "nobody"})
    assert unjudged.status_code == 404 and "(nobody)" in unjudged.text
    bad = api.get("/api/bench/compare", params=both | {"judge": "no one!"})
    assert bad.status_code == 422 and "must be primary, panel or a judge id" in bad.text


def test_a_bad_gate_or_no_judge_exits_2_and_submits_nothing(
    running_stack: Settings, api: httpx.Client, tmp_path: Path
) -> None:
    bad = HOLDS.replace("experiment: gate-holds", "experiment: gate-bad").replace(
        "by: 0.5}", "by: -1}\n  max_latency: 3"
    )
    result = tipbench(running_stack, "run", "-c", run_file(tmp_path, "bad.yaml", bad), "--gate")
    assert result.returncode == 2
    path = tmp_path / "bad.yaml"
    assert (
        f"{path}:11: gate.must_beat.by: Input should be greater than or equal to 0" in result.stderr
    )
    assert f"{path}:12: gate.max_latency: unknown key; known: row," in result.stderr

    unjudged = HOLDS.replace("experiment: gate-holds", "experiment: gate-bad").replace(
        "judge: llm:picky-judge:8b\n", ""
    )
    result = tipbench(
        running_stack, "run", "-c", run_file(tmp_path, "nojudge.yaml", unjudged), "--gate"
    )
    assert result.returncode == 2
    assert "--gate needs judged scores, and no judge is configured" in result.stderr

    no_gate = tipbench(
        running_stack,
        "run",
        "-c",
        run_file(tmp_path, "plain.yaml", FAILS.split("gate:")[0]),
        "--gate",
    )
    assert no_gate.returncode == 2 and "the run file has no gate: key" in no_gate.stderr
    experiments = [e["experiment"] for e in api.get("/api/bench/experiments").json()]
    assert "gate-bad" not in experiments
