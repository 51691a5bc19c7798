"""Publish a leaderboard as artifacts of the experiment's summary run: JSON, CSV, a chart."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow.tracking import MlflowClient

from shared import tracking
from shared.leaderboards import Leaderboard, to_csv


def summary_run_id(client: MlflowClient, experiment_id: str) -> str:
    """The experiment's summary run, created on first use (callers hold the rebuild lock)."""
    found = next(
        tracking.search_runs(client, experiment_id, f"tags.{tracking.TAG_KIND} = 'summary'"),
        None,
    )
    if found is not None:
        return str(found.info.run_id)
    run = client.create_run(
        experiment_id, run_name="leaderboard", tags={tracking.TAG_KIND: "summary"}
    )
    return str(run.info.run_id)


def chart(board: Leaderboard, path: Path) -> None:
    """Mean composite per (model, prompt) with its 95% CI as whiskers."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a file only
    from matplotlib import pyplot

    rows = [r for r in board.rows if r.mean_composite is not None]
    labels = [f"{r.model} | {r.prompt_version}" for r in rows]
    means = [r.mean_composite or 0.0 for r in rows]
    low = [(r.mean_composite or 0.0) - (r.ci_low or 0.0) for r in rows]
    high = [(r.ci_high or 0.0) - (r.mean_composite or 0.0) for r in rows]
    figure, axes = pyplot.subplots(figsize=(8, 1.2 + 0.45 * max(len(rows), 1)))
    positions = list(range(len(rows)))[::-1]
    axes.errorbar(means, positions, xerr=[low, high], fmt="o", capsize=4, color="#1f5f8b")
    axes.set_yticks(positions, labels)
    axes.set_xlim(2, 17)
    axes.set_xlabel("mean composite (tip-v1, 2..17) with 95% CI")
    axes.set_title(f"tip-bench-{board.experiment} (v{board.version}, {board.n_runs} runs)")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def publish(client: MlflowClient, experiment_id: str, board: Leaderboard) -> str:
    """Write leaderboard.json, leaderboard.csv and leaderboard.png to the summary run."""
    run_id = summary_run_id(client, experiment_id)
    with tempfile.TemporaryDirectory(prefix="tipbench-board-") as folder:
        Path(folder, "leaderboard.json").write_text(board.model_dump_json(indent=2), "utf-8")
        Path(folder, "leaderboard.csv").write_text(to_csv(board), "utf-8")
        chart(board, Path(folder, "leaderboard.png"))
        client.log_artifacts(run_id, folder)
    return run_id
