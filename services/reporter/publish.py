"""Publish a leaderboard as artifacts of the experiment's summary run: JSON, CSV, a chart and
the report to share."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

from shared import tracking
from shared.charts import leaderboard_svg
from shared.contracts import Leaderboard, to_csv
from shared.report import REPORT_FILE


def summary_run_id(client: MlflowClient, experiment_id: str) -> str:
    """The experiment's summary run, created on first use (callers hold the rebuild lock)."""
    found = tracking.find_summary_run(client, experiment_id)
    if found is not None:
        return str(found.info.run_id)
    run = client.create_run(
        experiment_id, run_name="leaderboard", tags={tracking.TAG_KIND: tracking.SUMMARY}
    )
    return str(run.info.run_id)


def publish(client: MlflowClient, experiment_id: str, board: Leaderboard, report: str) -> str:
    """Write leaderboard.json, leaderboard.csv, leaderboard.svg and the report (HTML) to the
    summary run."""
    run_id = summary_run_id(client, experiment_id)
    with tempfile.TemporaryDirectory(prefix="tipbench-board-") as folder:
        Path(folder, "leaderboard.json").write_text(board.model_dump_json(indent=2), "utf-8")
        Path(folder, "leaderboard.csv").write_text(to_csv(board), "utf-8")
        Path(folder, "leaderboard.svg").write_text(leaderboard_svg(board), "utf-8")
        Path(folder, REPORT_FILE).write_text(report, "utf-8")
        client.log_artifacts(run_id, folder)
    return run_id
