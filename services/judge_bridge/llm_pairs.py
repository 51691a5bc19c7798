"""An LLM judge in the pairwise protocol: a model says which of two blind answers is better.

Same path as the rubric's LLM judge (llm_judge.py): the judge's pair packet, the shared
prompt core with a JSON schema `{winner, rationale}`, verdicts written a batch at a time
through the same ingestion as a person's verdict file, failures recorded, never guessed.
"""

from __future__ import annotations

from services.judge_bridge.deps import JudgeDeps
from services.judge_bridge.ingest_pairs import ingest_pair_verdicts
from services.judge_bridge.llm_judge import BATCH_ITEMS, judge_loaded, scenario_context
from shared.contracts import PairJudgment, PairScoreFile
from shared.errors import InvalidVerdict, NoPairsLeft
from shared.llm_judging import ask_pair_verdict, llm_judge_id, pair_messages
from shared.model_names import ModelRef
from shared.pair_judging import pair_packet_for_judge


def judge_pairs(deps: JudgeDeps, experiment: str, judge: ModelRef) -> tuple[int, int]:
    """Let the model judge the pairs of its pair packet; returns how many pairs it judged
    and how many failed (recorded as judge failures naming both runs)."""
    judge_id = llm_judge_id(judge)
    try:
        packet = pair_packet_for_judge(deps.packets, deps.pairs, experiment, judge_id)
    except NoPairsLeft:
        return 0, 0  # every pair judged already: nothing to do, not a failure
    pair_runs = deps.pairs.pair_runs(packet.packet_id)
    judged = failed = 0
    with judge_loaded(deps, judge) as chat:
        for start in range(0, len(packet.pairs), BATCH_ITEMS):
            verdicts: list[PairJudgment] = []
            for pair in packet.pairs[start : start + BATCH_ITEMS]:
                messages = pair_messages(
                    packet.rubric, scenario_context(pair.scenario), pair.a.answer, pair.b.answer
                )
                try:
                    verdict = ask_pair_verdict(chat, judge.name, messages)
                except InvalidVerdict as exc:
                    runs = " vs ".join(pair_runs[pair.pair_id])
                    deps.scores.record_failure(experiment, judge_id, runs, str(exc))
                    failed += 1
                    continue
                verdicts.append(verdict.model_copy(update={"pair_id": pair.pair_id}))
            if verdicts:
                verdict_file = PairScoreFile(
                    packet_id=packet.packet_id,
                    judge_id=judge_id,
                    judge_kind="llm",
                    judgments=verdicts,
                )
                ingest_pair_verdicts(deps, experiment, verdict_file)
                judged += len(verdicts)
    return judged, failed
