"""Turn the judges' old dict-valued `<rubric-id>` assessments into per-criterion feedback.

Before per-criterion feedback, the judge bridge logged each score as one feedback named
after the rubric (`tip-v1`) whose value was a dict of every item, flag and the composite.
The migration replays each such feedback, oldest first, as the feedback the bridge writes
today (a later one of the same judge overrides the earlier, as a re-score does), then
deletes it. Run again, it finds nothing left to turn; interrupted, it resumes where it
stopped: a replay equal to the judge's current feedback writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import Feedback, Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from shared import tracking
from shared.feedback import criterion_feedback, current_feedback, log_verdict, tracing
from shared.rubric import COMPOSITE, Rubric
from shared.suite_files import DEFAULT_SUITE, builtin_suite


@dataclass
class Migration:
    """What a migration found and did."""

    traces: int = 0  # cell runs' generation traces looked at
    converted: int = 0  # old dict feedback turned into per-criterion feedback (and deleted)
    superseded: int = 0  # old dict feedback deleted: the judge has rescored since
    written: int = 0  # per-criterion feedback logged
    left: list[str] = field(default_factory=list)  # old feedback left as it was, and why


def run_rubric(client: MlflowClient, run: Run) -> Rubric | None:
    """The rubric stored with a cell run; tip-v1 for runs older than stored rubrics."""
    try:
        stored = tracking.read_cell_part(client, run, tracking.RUBRIC_ARTIFACT)
    except (MlflowException, OSError, KeyError):
        default = builtin_suite(DEFAULT_SUITE).rubric
        return default if run.data.tags.get(tracking.TAG_RUBRIC_ID) == default.id else None
    return Rubric.from_dict(stored)


def _scores(value: dict[str, Any]) -> dict[str, Any]:
    """The items and flags of an old dict (JSON may have made 4 into 4.0)."""
    return {
        name: int(v) if isinstance(v, float) and v.is_integer() else v
        for name, v in value.items()
        if name != COMPOSITE
    }


def migrate_trace(client: MlflowClient, run: Run, trace_id: str, report: Migration) -> None:
    """Turn the trace's old `<rubric-id>` dict feedback into per-criterion feedback."""
    rubric_id = run.data.tags.get(tracking.TAG_RUBRIC_ID, DEFAULT_SUITE)
    old = sorted(
        (
            (a, a.value, a.assessment_id)
            for a in tracing(client).get_trace_info(trace_id).assessments
            if isinstance(a, Feedback) and a.name == rubric_id and isinstance(a.value, dict)
        ),
        key=lambda found: found[0].create_time_ms or 0,
    )
    if not old:
        return
    rubric = run_rubric(client, run)
    for assessment, value, assessment_id in old:
        where = f"trace {trace_id} (run {run.info.run_id}), assessment {assessment_id}"
        if rubric is None:
            report.left.append(f"{where}: the run holds no {tracking.RUBRIC_ARTIFACT}")
            continue
        values = _scores(value)
        problems = rubric.check_scores(values, "value")
        if problems:
            report.left.append(
                f"{where}: " + "; ".join(f"{p['field']} {p['message']}" for p in problems)
            )
            continue
        current = current_feedback(client, trace_id, assessment.source)
        criteria = (*rubric.score_names, COMPOSITE)
        if any(
            (f.create_time_ms or 0) > (assessment.create_time_ms or 0)
            for name, f in current.items()
            if name in criteria
        ):
            # The judge scored again since, per criterion: the old verdict is history that
            # MLflow cannot place before the current one; the current one stays.
            report.superseded += 1
        else:
            feedback = criterion_feedback(
                rubric,
                values,
                assessment.rationale or "",
                assessment.source,
                assessment.metadata or {},
            )
            for new in feedback:  # the time the judge gave it, so replays stay in order
                new.create_time_ms = new.last_update_time_ms = assessment.create_time_ms
            report.written += log_verdict(client, trace_id, feedback)
            report.converted += 1
        tracing(client).delete_assessment(trace_id, str(assessment_id))


def migrate_experiment(client: MlflowClient, experiment_id: str) -> Migration:
    """Migrate the old feedback on every cell run's generation trace of an experiment."""
    report = Migration()
    cells = f"tags.{tracking.TAG_KIND} = 'cell'"
    for run in tracking.search_runs(client, experiment_id, cells):
        trace_id = run.data.tags.get(tracking.TAG_TRACE_ID)
        if trace_id:
            report.traces += 1
            migrate_trace(client, run, trace_id, report)
    return report
