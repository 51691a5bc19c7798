"""Judges' verdicts in MLflow: one feedback per criterion, overridden the MLflow way on a
re-score, and the old dict-valued assessments migrated once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import mlflow
import pytest
import redis
from mlflow.entities import AssessmentSource, Feedback
from mlflow.tracking import MlflowClient

from services.judge_bridge.ingest import ingest_scores
from shared import tracking
from shared.contracts import JudgePacket, ScoreFile
from shared.judging import packet_for_judge
from shared.settings import Settings
from shared.stores.packets import PacketStore
from shared.stores.scores import ScoreStore
from shared.suite_files import builtin_suite
from testkit.fake_models import VERDICT
from tests.test_cli import tipbench
from tests.test_judging import candidates

RUBRIC = builtin_suite("tip-v1").rubric
CRITERIA = {"relevance", "actionability", "tone", "format_ok", "overlong", "composite"}
JUDGED = {n: v for n, v in VERDICT.items() if n != "rationale"} | {"composite": 4 + 3 + 5 + 2}


@pytest.fixture
def client(core_settings: Settings, mlflow_server: str) -> MlflowClient:
    return tracking.use_tracking_server(core_settings)


@pytest.fixture
def store(core_settings: Settings) -> Iterator[redis.Redis[bytes]]:
    with redis.Redis.from_url(core_settings.redis_url) as connection:
        yield connection


def traced_cell(client: MlflowClient, experiment_id: str) -> tuple[str, str]:
    """A cell run as the recorder writes it: a generation trace and the rubric artifact."""
    run_id = client.create_run(
        experiment_id,
        tags={tracking.TAG_KIND: "cell", tracking.TAG_RUBRIC_ID: RUBRIC.id},
    ).info.run_id
    span = client.start_trace(
        name="generate_tips", inputs={"persona": "a nurse"}, experiment_id=experiment_id
    )
    client.end_trace(span.trace_id, outputs={"tips": ["Drink water."]})
    mlflow.flush_trace_async_logging()
    client.set_tag(run_id, tracking.TAG_TRACE_ID, span.trace_id)
    client.log_dict(run_id, RUBRIC.as_dict(), "rubric.json")
    return run_id, span.trace_id


def feedback_of(client: MlflowClient, trace_id: str, judge: str) -> list[Feedback]:
    """Every feedback of the judge on the trace, valid or not, oldest first."""
    found = client.get_trace(trace_id).info.assessments
    mine = [a for a in found if isinstance(a, Feedback) and a.source.source_id == judge]
    return sorted(mine, key=lambda a: a.create_time_ms or 0)


def valid(feedback: list[Feedback]) -> dict[str, Feedback]:
    """The valid feedback by name; fails if a name has two."""
    names = [a.name for a in feedback if a.valid is not False]
    assert len(names) == len(set(names)), names
    return {a.name: a for a in feedback if a.valid is not False}


class Judged:
    """An experiment of two traced cell runs, and a judge's score file for its packet."""

    def __init__(self, settings: Settings, client: MlflowClient, store: redis.Redis[bytes]):
        self.client = client
        self.experiment = f"fb-{uuid.uuid4().hex[:8]}"
        experiment_id = tracking.ensure_experiment(client, self.experiment)
        self.traces = dict(traced_cell(client, experiment_id) for _ in range(2))
        self.packets, self.scores = PacketStore(store, settings), ScoreStore(store, settings)
        pool = dict(zip(self.traces, candidates(2).values(), strict=True))
        self.packets.add_candidates(self.experiment, pool, RUBRIC)
        self.packets_of: dict[str, tuple[JudgePacket, dict[str, str]]] = {}

    def score(self, judge: str, kind: str, **changes: int) -> dict[str, str]:
        """The judge scores every run of its packet (re-scoring: the same packet, changed as
        asked); returns run -> trace."""
        if judge not in self.packets_of:
            self.packets_of[judge] = packet_for_judge(
                self.packets, self.scores, self.experiment, judge
            )
        packet, item_runs = self.packets_of[judge]
        items = [VERDICT | changes | {"item_id": item_id} for item_id in sorted(item_runs)]
        scores = ScoreFile.model_validate(
            {"packet_id": packet.packet_id, "judge_id": judge, "judge_kind": kind}
            | {"scores": items}
        )
        ingest_scores(self.client, self.packets, self.scores, self.experiment, scores)
        return self.traces


def test_a_judges_score_is_one_feedback_per_criterion_with_its_source_and_rubric(
    core_settings: Settings, client: MlflowClient, store: redis.Redis[bytes]
) -> None:
    # Given two cell runs with generation traces, When a person scores both
    judged = Judged(core_settings, client, store)
    traces = judged.score("ann", "human")
    # Then each trace has one feedback per item and flag, and the composite
    for trace_id in traces.values():
        found = valid(feedback_of(client, trace_id, "ann"))
        assert set(found) == CRITERIA
        assert {name: f.value for name, f in found.items()} == JUDGED
        assert found["tone"].rationale == "Clear and doable."
        assert "2*format_ok - overlong" in str(found["composite"].rationale)
        assert {(f.source.source_type, f.source.source_id) for f in found.values()} == {
            ("HUMAN", "ann")
        }
        assert all(
            f.metadata is not None
            and (f.metadata["rubric_id"], f.metadata["rubric_version"]) == ("tip-v1", "1")
            for f in found.values()
        )
    # And an LLM judge's feedback sits beside the person's, as an LLM_JUDGE source
    judged.score("llm:judge:8b", "llm")
    trace_id = next(iter(traces.values()))
    llm = valid(feedback_of(client, trace_id, "llm:judge:8b"))
    assert {f.source.source_type for f in llm.values()} == {"LLM_JUDGE"}
    assert set(valid(feedback_of(client, trace_id, "ann"))) == CRITERIA


def test_a_rescore_overrides_the_judges_feedback_and_a_repost_writes_nothing(
    core_settings: Settings, client: MlflowClient, store: redis.Redis[bytes]
) -> None:
    # Given a person's scores on two traces
    judged = Judged(core_settings, client, store)
    traces = judged.score("ann", "human")
    trace_id = next(iter(traces.values()))
    before = feedback_of(client, trace_id, "ann")
    # When ann changes her mind about tone
    judged.score("ann", "human", tone=2)
    # Then the tone and the composite are overridden: the old ones stay, marked invalid
    after = feedback_of(client, trace_id, "ann")
    assert len(after) == len(before) + 2
    current = valid(after)
    assert (current["tone"].value, current["composite"].value) == (2, 11)
    old = {a.assessment_id: a for a in after if a.valid is False}
    overridden = {old[str(current[n].overrides)].name for n in ("tone", "composite")}
    assert overridden == {"tone", "composite"}
    assert {old_one.value for old_one in old.values()} == {5, 14}
    assert current["relevance"].overrides is None
    # And a repost of the same scores writes nothing
    judged.score("ann", "human", tone=2)
    assert len(feedback_of(client, trace_id, "ann")) == len(after)


def test_migrate_feedback_turns_old_dict_assessments_into_feedback_once(
    core_settings: Settings, client: MlflowClient
) -> None:
    # Given an experiment whose traces hold feedback as older tipbench logged it
    experiment = f"mig-{uuid.uuid4().hex[:8]}"
    experiment_id = tracking.ensure_experiment(client, experiment)
    _, trace_id = traced_cell(client, experiment_id)
    bob = AssessmentSource(source_type="LLM_JUDGE", source_id="bob")
    first: dict[str, float | int | str | bool] = {
        "relevance": 4,
        "actionability": 3,
        "tone": 1,
        "format_ok": 1,
        "overlong": 0,
    }
    for tone in (1, 4):  # bob scored, then changed his mind: two dicts, both valid
        mlflow.log_feedback(
            trace_id=trace_id,
            name="tip-v1",
            value=first | {"tone": tone, "composite": 10 + tone},
            source=bob,
            rationale=f"tone {tone}",
            metadata={"packet_id": "p1", "judge_kind": "agent"},
        )
    mlflow.log_feedback(trace_id=trace_id, name="tip-v1", value={"relevance": 9}, source=bob)
    mlflow.log_feedback(trace_id=trace_id, name="user-metric", value={"a": 1}, source=bob)
    # When the migration runs
    migrated = tipbench(core_settings, "migrate", "feedback", "--experiment", experiment)
    # Then bob's verdicts are per-criterion feedback, the later (a new rationale: every
    # criterion) overriding the earlier
    assert migrated.returncode == 1, migrated.stderr
    assert f"tip-bench-{experiment}: 1 traces, 2 old assessments turned into 12 feedback" in (
        migrated.stdout
    )
    assert f"trace {trace_id}" in migrated.stderr  # the invalid one is left, with where
    assert "value.relevance must be an integer 1-5, not 9" in migrated.stderr
    after = feedback_of(client, trace_id, "bob")
    current = valid(after)
    assert set(current) == CRITERIA | {"user-metric", "tip-v1"}
    assert (current["tone"].value, current["tone"].rationale) == (4, "tone 4")
    assert current["composite"].value == 4 + 3 + 4 + 2  # recomputed, not the stored 14
    assert current["relevance"].metadata["packet_id"] == "p1"  # type: ignore[index]
    assert [a.value for a in after if a.name == "tone"] == [1, 4]
    assert current["tip-v1"].value == {"relevance": 9}  # the invalid one is left as it was
    # And run again, it changes nothing
    again = tipbench(core_settings, "migrate", "feedback", "--experiment", experiment)
    assert "0 old assessments turned into 0 feedback" in again.stdout
    assert [a.assessment_id for a in feedback_of(client, trace_id, "bob")] == [
        a.assessment_id for a in after
    ]


def test_migrate_feedback_refuses_an_unknown_experiment(
    core_settings: Settings, mlflow_server: str
) -> None:
    refused = tipbench(core_settings, "migrate", "feedback", "--experiment", "no-such-exp")
    assert refused.returncode == 2
    assert "no experiment 'no-such-exp' in MLflow" in refused.stderr
