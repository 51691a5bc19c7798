"""Where each message goes: one table from contract to (queue, actor name).

Services never import each other: they send a contract here, and the table names the
actor that takes it in the receiving service.
"""

from __future__ import annotations

from typing import Final

import dramatiq
from dramatiq.broker import Broker

from shared.broker import REQUEST_ID_OPTION
from shared.contracts import messages
from shared.logs import current_request_id

COLLECT_QUEUE: Final = "collect"
RECORD_QUEUE: Final = "record"
JUDGE_QUEUE: Final = "judge"
REPORT_QUEUE: Final = "report"


def collect_queue(host: str) -> str:
    """The queue of one generation host's collector; `collect` for the one-host default."""
    return f"{COLLECT_QUEUE}.{host}" if host else COLLECT_QUEUE


# contract type -> every (queue, actor) that takes it
ROUTES: Final[dict[type[messages.Message], tuple[tuple[str, str], ...]]] = {
    messages.CollectCell: ((COLLECT_QUEUE, "collect_cell"),),
    messages.OpenJobRun: ((RECORD_QUEUE, "open_job_run"),),
    messages.RecordCell: ((RECORD_QUEUE, "record_cell"),),
    messages.CellFinished: ((REPORT_QUEUE, "rebuild_leaderboard"),),
    messages.JobFinished: ((JUDGE_QUEUE, "build_packet"), (REPORT_QUEUE, "rebuild_leaderboard")),
    messages.IngestScores: ((JUDGE_QUEUE, "ingest_scores"),),
    messages.IngestPairScores: ((JUDGE_QUEUE, "ingest_pair_scores"),),
    messages.RunLlmJudge: ((JUDGE_QUEUE, "run_llm_judge"),),
    messages.ScoresIngested: ((REPORT_QUEUE, "rebuild_leaderboard"),),
}


def send(broker: Broker, message: messages.Message) -> None:
    """Enqueue a contract for every actor that takes it, with the current request id.

    A cell goes to the collect queue of the host it was assigned to.
    """
    payload = message.model_dump(mode="json")
    request_id = current_request_id()
    options = {REQUEST_ID_OPTION: request_id} if request_id else {}
    for queue_name, actor_name in ROUTES[type(message)]:
        broker.enqueue(
            dramatiq.Message(
                queue_name=collect_queue(message.host)
                if isinstance(message, messages.CollectCell)
                else queue_name,
                actor_name=actor_name,
                args=(payload,),
                kwargs={},
                options=dict(options),
            )
        )
