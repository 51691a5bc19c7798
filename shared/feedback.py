"""A judge's verdict in MLflow: one feedback per rubric item and flag, and the composite.

Each criterion is its own feedback (name = the item's id, an integer value), so MLflow's
UI and its evaluation tools chart and aggregate relevance, tone... one by one. A judge that
changes its mind overrides its earlier feedback the MLflow way (`overrides`: the old one
stays, marked invalid), so each criterion has one valid feedback per judge and a history.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback
from mlflow.tracing.client import TracingClient
from mlflow.tracking import MlflowClient

from shared.rubric import COMPOSITE, Rubric

META_RUBRIC_ID = "rubric_id"
META_RUBRIC_VERSION = "rubric_version"


def judge_source(judge_id: str, judge_kind: str) -> AssessmentSource:
    """People are HUMAN sources; coding agents and LLM judges are LLM_JUDGE sources."""
    kind = AssessmentSourceType.HUMAN if judge_kind == "human" else AssessmentSourceType.LLM_JUDGE
    return AssessmentSource(source_type=kind, source_id=judge_id)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def criterion_feedback(
    rubric: Rubric,
    values: Mapping[str, int],
    rationale: str,
    source: AssessmentSource,
    metadata: Mapping[str, str],
) -> list[Feedback]:
    """One feedback per item and flag, with the judge's rationale, then the composite that
    tipbench computes from them; the rubric's id and version in every one's metadata."""
    meta = {**metadata, META_RUBRIC_ID: rubric.id, META_RUBRIC_VERSION: str(rubric.version)}
    found = [
        Feedback(
            name=name,
            value=int(values[name]),
            rationale=rationale or None,
            source=source,
            metadata=meta,
        )
        for name in rubric.score_names
    ]
    composite = Feedback(
        name=COMPOSITE,
        value=_number(rubric.composite(values)),
        rationale=f"computed by tipbench: {rubric.formula()}",
        source=source,
        metadata=meta,
    )
    return [*found, composite]


def tracing(client: MlflowClient) -> TracingClient:
    """The trace and assessment client of the client's tracking server (not the global one)."""
    return TracingClient(client.tracking_uri)


def _same_judge(a: AssessmentSource, b: AssessmentSource) -> bool:
    return (a.source_type, a.source_id) == (b.source_type, b.source_id)


def current_feedback(
    client: MlflowClient, trace_id: str, source: AssessmentSource
) -> dict[str, Feedback]:
    """The judge's valid feedback on the trace, by name (the latest if several are valid)."""
    valid = sorted(
        (
            a
            for a in tracing(client).get_trace_info(trace_id).assessments
            if isinstance(a, Feedback) and a.valid is not False and _same_judge(a.source, source)
        ),
        key=lambda a: a.create_time_ms or 0,
    )
    return {a.name: a for a in valid}


def log_verdict(client: MlflowClient, trace_id: str, feedback: list[Feedback]) -> int:
    """Log a judge's feedback on the trace: a criterion the judge already gave the same value
    and rationale is left alone (a re-post or a redelivery writes nothing); a different one
    overrides the judge's earlier feedback. All of `feedback` has one source. Returns how
    many were written."""
    if not feedback:
        return 0
    current = current_feedback(client, trace_id, feedback[0].source)
    written = 0
    for new in feedback:
        old = current.get(new.name)
        if old is not None and (old.value, old.rationale) == (new.value, new.rationale):
            continue
        if old is not None:
            new.overrides = old.assessment_id
        tracing(client).log_assessment(trace_id, new)
        written += 1
    return written
