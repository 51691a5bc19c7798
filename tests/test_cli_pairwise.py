"""`tipbench judge export --pairwise` and `judge import` of a verdict file, on the real stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.conftest import wait_until
from tests.test_cli import tipbench

pytestmark = pytest.mark.slow


def test_a_pair_packet_goes_out_and_its_verdicts_come_back_in(
    running_stack: Settings, tmp_path: Path
) -> None:
    # Given a finished job of two rows on two scenarios
    run = tipbench(
        running_stack,
        *("run", "--models", "tidy:1b", "tidy-b:0.5b", "--prompts", "v1", "--n-scenarios", "2"),
        *("--experiment", "cli-pairs", "--watch"),
    )
    assert run.returncode == 0, run.stderr
    wait_until(
        lambda: tipbench(running_stack, "judge", "export", "cli-pairs").returncode == 0,
        timeout_s=60,
        what="the candidates' pool",
    )
    # When a pair packet is asked for without a judge, the command says why it cannot
    alone = tipbench(running_stack, "judge", "export", "cli-pairs", "--pairwise")
    assert alone.returncode == 2 and "--pairwise needs --judge" in alone.stderr

    # When it is exported for a judge
    packet_file = tmp_path / "pairs.json"
    export = tipbench(
        running_stack,
        *("judge", "export", "cli-pairs", "--pairwise", "--judge", "cli-ann"),
        *("-o", str(packet_file)),
    )
    assert export.returncode == 0, export.stderr
    packet = json.loads(packet_file.read_text())
    # Then it holds one pair per shared scenario, and says so
    assert packet["schema_version"] == "tipbench.pair-packet/1"
    assert len(packet["pairs"]) == 2
    assert f"packet {packet['packet_id']}: 2 pairs -> {packet_file}" in export.stdout

    # When the judge's verdicts are imported
    verdict_file = tmp_path / "verdicts.json"
    judgments = [
        {"pair_id": pair["pair_id"], "winner": winner, "rationale": "compared"}
        for pair, winner in zip(packet["pairs"], ["a", "tie"], strict=True)
    ]
    verdict_file.write_text(
        json.dumps(
            {"packet_id": packet["packet_id"], "judge_id": "cli-ann", "judgments": judgments}
        )
    )
    accepted = tipbench(running_stack, "judge", "import", "cli-pairs", str(verdict_file))
    assert accepted.returncode == 0, accepted.stderr
    assert "accepted 2 pairwise verdicts" in accepted.stdout and "ingested" in accepted.stdout

    # Then the leaderboard carries the pairwise section with both rows
    def pairwise() -> object:
        board = json.loads(tipbench(running_stack, "leaderboard", "cli-pairs", "--json").stdout)
        return board["pairwise"]

    section = wait_until(pairwise, timeout_s=60, what="the pairwise section")
    assert isinstance(section, dict)
    assert section["n_judgments"] == 2
    rows = {r["model"]: r for r in section["rows"]}
    assert set(rows) == {"tidy:1b", "tidy-b:0.5b"}
    assert sum(r["wins"] for r in rows.values()) == 1
    assert all(r["ties"] == 1 and r["n_pairs"] == 2 for r in rows.values())
