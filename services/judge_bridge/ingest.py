"""Write a judge's validated scores to the cell runs; the composite is computed here."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from services.judge_bridge.deps import JudgeDeps
from shared import tracking
from shared.contracts import ItemScore, ScoreFile, ScoresIngested
from shared.contracts.requests import JudgeFile
from shared.faults import fault_point
from shared.feedback import criterion_feedback, judge_source, log_verdict
from shared.judging import check_scores
from shared.messaging import send
from shared.rubric import Rubric
from shared.stores.packets import PacketStore
from shared.stores.scores import ScoreStore

SAME = ("packet_id", "judge_kind")  # a re-post from another packet or kind is the same score
# An ingest holds its experiment's lock this long past its last write; a bridge killed
# mid-ingest delays the redelivered ingest by at most that.
INGEST_LOCK_TTL_S = 30.0
INGEST_LOCK_WAIT_S = 600.0


def log_assessment(
    client: MlflowClient, run_id: str, scores: ScoreFile, score: ItemScore, rubric: Rubric
) -> None:
    """The judge's score as MLflow feedback on the run's generation trace, if it has one:
    one per rubric item and flag plus the composite, overriding the judge's earlier ones."""
    trace_id = client.get_run(run_id).data.tags.get(tracking.TAG_TRACE_ID)
    if not trace_id:
        return  # runs recorded before traces existed
    feedback = criterion_feedback(
        rubric,
        score.values(),
        score.rationale,
        judge_source(scores.judge_id, scores.judge_kind),
        {"packet_id": scores.packet_id, "judge_kind": scores.judge_kind},
    )
    log_verdict(client, trace_id, feedback)


def _same_score(old: Mapping[str, object], new: Mapping[str, object]) -> bool:
    """True if a re-post repeats the judge's current score (whatever packet carried it)."""
    return all(old.get(k) == v for k, v in new.items() if k not in SAME)


def ingest_scores(
    client: MlflowClient,
    packets: PacketStore,
    scores_store: ScoreStore,
    experiment: str,
    scores: ScoreFile,
    progress: Callable[[], object] = lambda: None,
) -> list[str]:
    """Check the file against its packet again, then write what changed.

    A score equal to the judge's current one for the run is not written again, so
    re-posting a file changes nothing; a different one replaces it and is logged.
    `progress` is called after each run written (the caller renews its lock there).
    Returns every run of the file, written now or before: a redelivery after a crash
    must announce the runs the interrupted attempt already wrote, or the reporter
    would never re-read them.
    """
    item_runs, rubric = check_scores(experiment, scores, packets)
    judge = scores.judge_id
    primary = scores_store.primary_judge(experiment, judge) == judge
    now = int(time.time() * 1000)
    for score in scores.scores:
        run_id = item_runs[score.item_id]
        values: dict[str, float] = dict(score.values())
        values["composite"] = rubric.composite(values)
        new = {
            **values,
            "rationale": score.rationale,
            "packet_id": scores.packet_id,
            "judge_kind": scores.judge_kind,
        }
        old = scores_store.latest(run_id, judge)
        if old is not None and _same_score(old, new):
            continue
        metrics = [Metric(f"judge/{judge}/{k}", float(v), now, 0) for k, v in values.items()]
        metrics.append(Metric(tracking.METRIC_SCORED_AT, float(now), now, 0))
        tags = [RunTag(f"judge/{judge}/rationale", score.rationale)]
        if primary:
            metrics += [Metric(k, float(v), now, 0) for k, v in values.items()]
            tags += [
                RunTag(tracking.TAG_JUDGE_PENDING, "false"),
                RunTag("judge_id", judge),
                RunTag("judge_packet_id", scores.packet_id),
                RunTag("judge_rationale", score.rationale),
                RunTag(tracking.TAG_RUBRIC_ID, rubric.id),
            ]
        # MLflow first: if it fails, the Redis copy still differs and the retry rewrites.
        client.log_batch(run_id, metrics=metrics, tags=tags)
        log_assessment(client, run_id, scores, score, rubric)
        scores_store.record(experiment, run_id, judge, new, old)
        fault_point("ingest.partial")  # reliability suite: a crash between two runs
        progress()
    return sorted(set(item_runs.values()))


def ingest_locked(deps: JudgeDeps, experiment: str, scores: ScoreFile) -> list[str]:
    """Ingest under the experiment's lock: two posts of the same file must not both see
    "no score yet" and both write. The lock is renewed after every run written, so a
    bridge killed mid-ingest holds up the redelivered ingest for INGEST_LOCK_TTL_S only."""
    lock = deps.redis.lock(
        deps.settings.key("ingest-lock", experiment),
        timeout=INGEST_LOCK_TTL_S,
        blocking_timeout=INGEST_LOCK_WAIT_S,
    )
    with lock:
        return ingest_scores(
            deps.mlflow, deps.packets, deps.scores, experiment, scores, progress=lock.reacquire
        )


def announce_scores(
    deps: JudgeDeps, experiment: str, answer: JudgeFile, n_scores: int, run_ids: list[str]
) -> None:
    """Tell the reporter that a judge's score or verdict file (of `n_scores` entries) was
    ingested, and which runs' scores it changed."""
    send(
        deps.broker,
        ScoresIngested(
            experiment=experiment,
            packet_id=answer.packet_id,
            judge_id=answer.judge_id,
            n_scores=n_scores,
            run_ids=run_ids,
        ),
    )
