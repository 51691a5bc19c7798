"""Write a judge's validated scores to the cell runs; the composite is computed here."""

from __future__ import annotations

import time

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from shared import tracking
from shared.contracts import ScoreFile
from shared.judging import PacketStore, check_scores
from shared.rubric import RUBRIC_ID, composite


def ingest_scores(
    client: MlflowClient, store: PacketStore, experiment: str, scores: ScoreFile
) -> list[str]:
    """Check the file against its packet again, then write every score; returns the runs."""
    item_runs = check_scores(experiment, scores, store)
    now = int(time.time() * 1000)
    for score in scores.scores:
        values = score.model_dump(
            include={"relevance", "actionability", "tone", "format_ok", "overlong"}
        )
        values["composite"] = composite(**values)
        client.log_batch(
            item_runs[score.item_id],
            metrics=[Metric(name, float(value), now, 0) for name, value in values.items()],
            tags=[
                RunTag(tracking.TAG_JUDGE_PENDING, "false"),
                RunTag("judge_id", scores.judge_id),
                RunTag("judge_packet_id", scores.packet_id),
                RunTag("judge_rationale", score.rationale),
                RunTag(tracking.TAG_RUBRIC_ID, RUBRIC_ID),
            ],
        )
    return sorted(set(item_runs.values()))
