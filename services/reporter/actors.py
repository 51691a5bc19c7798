"""Reporter entrypoint: `dramatiq services.reporter.actors -Q report` (run any number)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis
from mlflow.tracking import MlflowClient

from services.reporter.events import changed_runs, parse_event
from services.reporter.leaderboard import suite_of_cells, views
from services.reporter.pairwise import with_pairwise
from services.reporter.publish import publish
from services.reporter.rebuild import REBUILD_DELAY_MS, RebuildGate
from services.reporter.report import build_report
from services.reporter.snapshot import CellSnapshot, current_cells
from shared import faults, tracking
from shared.broker import worker_broker
from shared.messaging import REPORT_QUEUE
from shared.settings import Settings
from shared.stores.answers import AnswerStore
from shared.stores.leaderboards import LeaderboardStore
from shared.stores.pairs import PairStore
from shared.stores.suites import SuiteStore
from shared.worker import worker_deps

settings = Settings()  # read from the environment
log = logging.getLogger("tipbench.reporter")
broker = worker_broker(settings, "reporter")
LOCK_BUSY_RETRY_MS = 300


@dataclass(frozen=True)
class ReporterDeps:
    """The reporter's clients."""

    mlflow: MlflowClient
    leaderboards: LeaderboardStore
    gate: RebuildGate
    snapshot: CellSnapshot
    suites: SuiteStore
    answers: AnswerStore
    pairs: PairStore


def _build(client: redis.Redis[bytes], mlflow: MlflowClient) -> ReporterDeps:
    """The reporter's clients, on its Redis and MLflow clients."""
    return ReporterDeps(
        mlflow=mlflow,
        leaderboards=LeaderboardStore(client, settings),
        gate=RebuildGate(client, settings),
        snapshot=CellSnapshot(client, settings),
        suites=SuiteStore(client, mlflow, settings),
        answers=AnswerStore(client, settings),
        pairs=PairStore(client, settings),
    )


deps = worker_deps(settings, _build)  # built on the first message


@dramatiq.actor(actor_name="rebuild_leaderboard", queue_name=REPORT_QUEUE, max_retries=5)
def rebuild_leaderboard(payload: dict[str, Any]) -> None:
    """An event changed an experiment's runs: schedule one rebuild unless one is pending."""
    event = parse_event(payload)
    experiment, changed = event.experiment, changed_runs(event)
    if changed != []:
        deps().snapshot.mark_changed(experiment, changed or [])
    if deps().gate.mark_pending(experiment):
        run_rebuild.send_with_options(args=(experiment,), delay=REBUILD_DELAY_MS)


@dramatiq.actor(
    actor_name="run_rebuild", queue_name=REPORT_QUEUE, max_retries=10, min_backoff=1_000
)
def run_rebuild(experiment: str) -> None:
    """Rebuild, store and publish the experiment's leaderboard, one replica at a time."""
    with deps().gate.locked(experiment) as mine:
        if not mine:  # another replica is rebuilding it: come back when it is done
            run_rebuild.send_with_options(args=(experiment,), delay=LOCK_BUSY_RETRY_MS)
            return
        faults.fault_point("rebuild.locked")  # reliability suite: a crash holding the lock
        found = tracking.find_experiment(deps().mlflow, experiment)
        if found is None:
            return
        version = deps().leaderboards.next_version(experiment)
        cells = current_cells(deps().mlflow, deps().snapshot, experiment, str(found.experiment_id))
        suite = suite_of_cells(cells, deps().suites)
        primary, *others = views(experiment, cells, version, suite, settings.min_scenarios)
        run_rows = {cell.run_id: cell.row for cell in cells}
        primary = with_pairwise(primary, run_rows, deps().pairs.verdicts(experiment))
        if deps().leaderboards.save(primary):
            for board in others:
                deps().leaderboards.save(board)
            report, unread = build_report(deps().mlflow, deps().answers, primary, cells, suite)
            publish(deps().mlflow, str(found.experiment_id), primary, report)
            if unread and deps().gate.mark_pending(experiment):  # the rest, with the next one
                run_rebuild.send_with_options(args=(experiment,), delay=REBUILD_DELAY_MS)
            log.info("leaderboard %s v%d rebuilt from %d runs", experiment, version, primary.n_runs)
