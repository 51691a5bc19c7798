"""Record a judge's validated pairwise verdicts and tell the reporter."""

from __future__ import annotations

from services.judge_bridge.deps import JudgeDeps
from shared.contracts import PairScoreFile, ScoresIngested
from shared.messaging import send
from shared.pair_judging import check_pair_scores


def ingest_pair_verdicts(deps: JudgeDeps, experiment: str, verdicts: PairScoreFile) -> None:
    """Check the file against its pair packet again, keep its verdicts, announce them.

    A verdict replaces the judge's earlier one on the same two runs, so re-posting a file
    changes nothing. The runs themselves do not change: the event names none, and the
    reporter rebuilds the board (its pairwise section) from the stored verdicts.
    """
    deps.pairs.record(experiment, check_pair_scores(experiment, verdicts, deps.pairs))
    send(
        deps.broker,
        ScoresIngested(
            experiment=experiment,
            packet_id=verdicts.packet_id,
            judge_id=verdicts.judge_id,
            n_scores=len(verdicts.judgments),
            run_ids=[],
        ),
    )
