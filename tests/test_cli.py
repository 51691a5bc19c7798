"""Specs of the `tipbench` command against the running stack (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import Settings
from testkit.processes import free_port, settings_env
from tests.conftest import wait_until

pytestmark = pytest.mark.slow
TIPBENCH = str(Path(sys.executable).parent / "tipbench")


def tipbench(
    settings: Settings, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command, talking to these settings' stack."""
    env = os.environ | settings_env(settings)
    return subprocess.run(
        [TIPBENCH, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )


def test_run_watch_shows_progress_then_the_leaderboard(running_stack: Settings) -> None:
    result = tipbench(
        running_stack,
        *("run", "--models", "tidy:1b", "--prompts", "v1", "v2-mentor", "--n-scenarios", "2"),
        *("--experiment", "cli-ok", "--watch"),
    )
    assert result.returncode == 0, result.stderr
    assert "job finished: 4/4 cells (0 failed)" in result.stdout
    table = [line.split() for line in result.stdout.splitlines() if line.startswith("-  ")]
    assert sorted(row[3] for row in table) == ["v1", "v2-mentor"]
    assert all(row[2] == "tidy:1b" and row[4] == "2" for row in table)


def test_the_common_path_from_run_to_judged_leaderboard(
    running_stack: Settings, tmp_path: Path
) -> None:
    run = tipbench(
        running_stack,
        *("run", "--models", "tidy:1b", "tidy-b:0.5b", "--prompts", "v1", "--n-scenarios", "2"),
        *("--experiment", "cli-path", "--watch"),
    )
    assert run.returncode == 0, run.stderr
    job_id = run.stdout.split()[1].rstrip(":")
    # a progress line per model, each ending done
    final = {line.split()[0]: line for line in run.stdout.splitlines() if "[" in line}
    assert "2/2  failed 0  done" in final["tidy:1b"]
    assert "2/2  failed 0  done" in final["tidy-b:0.5b"]

    jobs = tipbench(running_stack, "jobs")
    assert jobs.returncode == 0 and job_id in jobs.stdout
    status = tipbench(running_stack, "status", job_id)
    assert status.returncode == 0 and "job finished: 4/4 cells (0 failed)" in status.stdout

    packet_file = tmp_path / "packet.json"
    export = tipbench(running_stack, "judge", "export", "cli-path", "-o", str(packet_file))
    assert export.returncode == 0, export.stderr
    packet = json.loads(packet_file.read_text())
    assert len(packet["items"]) == 4

    def score(item_id: str) -> dict[str, object]:
        scores = {"relevance": 4, "actionability": 4, "tone": 4, "format_ok": 1, "overlong": 0}
        return {"item_id": item_id, **scores}

    bad = tmp_path / "bad.json"
    forged = [score("forged-1"), score("forged-2")]
    bad.write_text(
        json.dumps({"packet_id": packet["packet_id"], "judge_id": "cli-judge", "scores": forged})
    )
    refused = tipbench(running_stack, "judge", "import", "cli-path", str(bad))
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert "422" in lines[0]
    assert any("'forged-1' is not in the packet" in line for line in lines[1:])
    assert any("'forged-2' is not in the packet" in line for line in lines[1:])

    good = tmp_path / "scores.json"
    scores = [score(item["item_id"]) for item in packet["items"]]
    good.write_text(
        json.dumps({"packet_id": packet["packet_id"], "judge_id": "cli-judge", "scores": scores})
    )
    accepted = tipbench(running_stack, "judge", "import", "cli-path", str(good))
    assert accepted.returncode == 0, accepted.stderr
    assert "accepted 4 scores" in accepted.stdout and "ingested" in accepted.stdout

    def scored_csv() -> str:
        out = tipbench(running_stack, "leaderboard", "cli-path", "--csv").stdout
        return out if out.count("14.0") >= 2 else ""  # 4 + 4 + 4 + 2*1 - 0

    csv_text = wait_until(scored_csv, timeout_s=60, what="the judged leaderboard")
    assert csv_text.splitlines()[0].startswith("rank,")
    board = json.loads(tipbench(running_stack, "leaderboard", "cli-path", "--json").stdout)
    assert [r["mean_composite"] for r in board["rows"]] == [14.0, 14.0]


def test_leaderboard_names_the_runs_two_judges_disagree_on(
    running_stack: Settings, tmp_path: Path
) -> None:
    # Given a job of two scenarios, scored by ann and by bob, who differ by 3 on relevance
    run = tipbench(
        running_stack,
        *("run", "--models", "tidy:1b", "--prompts", "v1", "--n-scenarios", "2"),
        *("--experiment", "cli-apart", "--watch"),
    )
    assert run.returncode == 0, run.stderr
    for judge, relevance in (("ann", 1), ("bob", 4)):
        packet_file = tmp_path / f"{judge}.json"
        export = tipbench(
            running_stack, "judge", "export", "cli-apart", "--judge", judge, "-o", str(packet_file)
        )
        assert export.returncode == 0, export.stderr
        packet = json.loads(packet_file.read_text())
        scores = [
            {"item_id": i["item_id"], "relevance": relevance, "actionability": 4, "tone": 4}
            | {"format_ok": 1, "overlong": 0}
            for i in packet["items"]
        ]
        scored = tmp_path / f"{judge}-scores.json"
        scored.write_text(
            json.dumps({"packet_id": packet["packet_id"], "judge_id": judge, "scores": scores})
        )
        imported = tipbench(running_stack, "judge", "import", "cli-apart", str(scored))
        assert imported.returncode == 0, imported.stderr

    def both_judged() -> str:
        out = tipbench(running_stack, "leaderboard", "cli-apart", "--judge", "panel").stdout
        return out if "disagreements (judges 2+ points apart), 2:" in out else ""

    # When the panel's leaderboard is shown
    out = wait_until(both_judged, timeout_s=90, what="the panel's leaderboard with both judges")
    # Then the rows show their bootstrap ranks and spreads
    assert "boot ranks" in out.splitlines()[1] and "sd between" in out.splitlines()[1]
    # And each disagreement names its run by model, prompt and scenario, with both scores
    apart = out.split("disagreements (judges 2+ points apart), 2:")[1].splitlines()
    assert apart[1].split() == ["run", "item", "ann", "bob"]
    named = [line.split("  ") for line in apart[2:4]]
    assert all(line[0].startswith("tidy:1b | v1 | ") for line in named)
    assert all(line.split()[-3:] == ["relevance", "1", "4"] for line in apart[2:4])


def test_bad_usage_exits_2(running_stack: Settings) -> None:
    both = tipbench(running_stack, "leaderboard", "x", "--csv", "--json")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    missing = tipbench(running_stack, "judge", "import", "cli-path", "/nonexistent/scores.json")
    assert missing.returncode == 2
    assert "cannot read /nonexistent/scores.json" in missing.stderr


def test_run_with_failed_cells_exits_1_and_names_them(running_stack: Settings) -> None:
    result = tipbench(
        running_stack,
        *("run", "--models", "gguf:smollm2-135m", "--prompts", "v1", "--n-scenarios", "1"),
        *("--max-model-b", "0.1", "--experiment", "cli-failed", "--watch"),
    )
    assert result.returncode == 1
    assert "failed cell gguf:smollm2-135m | v1 | student@morning:" in result.stdout
    assert "over max_model_b=0.1" in result.stdout


def test_a_refused_request_exits_2_with_one_line(running_stack: Settings) -> None:
    result = tipbench(running_stack, "run", "--models", "gguf:nope")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "422" in result.stderr and "gguf:nope" in result.stderr


def test_an_unreachable_gateway_exits_3(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"gateway_port": free_port()})
    result = tipbench(nowhere, "status", "some-job")
    assert result.returncode == 3
    assert "gateway unreachable" in result.stderr
