"""Record a judge's validated pairwise verdicts and tell the reporter."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from mlflow.entities import RunTag
from mlflow.tracking import MlflowClient

from services.judge_bridge.deps import JudgeDeps
from services.judge_bridge.ingest import announce_scores
from shared.contracts import PairScoreFile
from shared.pair_judging import check_pair_scores


def ingest_pair_verdicts(deps: JudgeDeps, experiment: str, verdicts: PairScoreFile) -> None:
    """Check the file against its pair packet again, keep its verdicts, announce them.

    A verdict replaces the judge's earlier one on the same two runs (in Redis and in the
    runs' tags in MLflow), so re-posting a file changes nothing. No run's scores change:
    the event names no run to read again, and the reporter rebuilds the board's pairwise
    section from the stored verdicts.
    """
    checked = check_pair_scores(experiment, verdicts, deps.pairs)
    # MLflow first (the record): if it fails, the retry writes both again.
    record_in_mlflow(deps.mlflow, checked)
    deps.pairs.record(experiment, checked)
    announce_scores(deps, experiment, verdicts, len(verdicts.judgments), run_ids=[])


def record_in_mlflow(client: MlflowClient, verdicts: list[dict[str, Any]]) -> None:
    """Each verdict as a tag on both its runs, `pairwise/<judge id>/<other run>`: the
    outcome for this run (win, loss, tie), the rationale and the packet, as JSON."""
    tags: dict[str, list[RunTag]] = defaultdict(list)
    for verdict in verdicts:
        sides = (
            (verdict["run_a"], verdict["run_b"], "a"),
            (verdict["run_b"], verdict["run_a"], "b"),
        )
        for run_id, other, side in sides:
            outcome = (
                "tie"
                if verdict["winner"] == "tie"
                else "win"
                if verdict["winner"] == side
                else "loss"
            )
            value = {
                "outcome": outcome,
                "rationale": verdict["rationale"],
                "packet_id": verdict["packet_id"],
                "judge_kind": verdict["judge_kind"],
            }
            tags[run_id].append(
                # unescaped: a 2000-character rationale in any script stays under MLflow's
                # 8000-character tag limit (escaped, it could be cut into invalid JSON)
                RunTag(
                    f"pairwise/{verdict['judge_id']}/{other}",
                    json.dumps(value, ensure_ascii=False),
                )
            )
    for run_id, run_tags in tags.items():
        client.log_batch(run_id, tags=run_tags)
