"""An LLM judge: a model scores every candidate of a packet, answering in the rubric's JSON.

The prompt, the schema, the retries and the reading of answers are the shared core
(shared/llm_judging.py), which `tipbench.mlflow_scorer` uses too; here is the packet side.
The judge is loaded only once the collector is idle, so it never shares memory with a
candidate model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from services.judge_bridge.deps import JudgeDeps
from services.judge_bridge.ingest import announce_scores, ingest_locked
from shared.contracts import ItemScore, JudgePacket, PacketItem, PacketScenario, ScoreFile
from shared.errors import InvalidVerdict
from shared.judge_clients import remote_chat
from shared.judging import packet_for_judge
from shared.llm_judging import Chat, ask_verdict, llm_judge_id, verdict_messages
from shared.model_names import ModelRef
from shared.rubric import Rubric

# Scores are written every BATCH_ITEMS items: the leaderboard shows a slow judge's progress,
# and a bridge stopped mid-packet loses one batch of work, not the packet's.
BATCH_ITEMS = 4


@dataclass(frozen=True)
class JudgeFailure:
    """An item the LLM judge could not score, and why."""

    item_id: str
    error: str


def scenario_context(scenario: PacketScenario) -> str:
    """What the judge is told of the scenario a candidate was written for."""
    context = "\n".join(f"{name}: {value}" for name, value in scenario.vars.items())
    return f"{context}\nTips requested: {scenario.n_tips}, each under {scenario.word_limit} words"


def judge_messages(packet: JudgePacket, item: PacketItem) -> list[dict[str, str]]:
    """The chat asking the model to score one item against the rubric."""
    return verdict_messages(packet.rubric, scenario_context(item.scenario), item.answer)


def score_packet(
    chat: Chat, model: str, packet: JudgePacket, judge_id: str
) -> tuple[ScoreFile | None, list[JudgeFailure]]:
    """Score every item of the packet; returns the valid scores and the failures."""
    scores: list[ItemScore] = []
    failures: list[JudgeFailure] = []
    rubric = Rubric.from_dict(packet.rubric)
    for item in packet.items:
        try:
            verdict = ask_verdict(chat, model, judge_messages(packet, item), rubric)
        except InvalidVerdict as exc:
            failures.append(JudgeFailure(item_id=item.item_id, error=str(exc)))
            continue
        scores.append(verdict.model_copy(update={"item_id": item.item_id}))
    if not scores:
        return None, failures
    score_file = ScoreFile(
        packet_id=packet.packet_id, judge_id=judge_id, judge_kind="llm", scores=scores
    )
    return score_file, failures


def judge_chat(deps: JudgeDeps, judge: ModelRef) -> Chat:
    """How to ask the judge: through Ollama, an OpenAI-compatible server, or in-process."""
    chat = remote_chat(judge, deps)
    return deps.embedded if chat is None else chat  # gguf: llama.cpp in this process


def judge_must_wait(deps: JudgeDeps, judge: ModelRef) -> bool:
    """True while cells wait to be generated or a candidate model is still loaded."""
    if deps.queues.collector_busy():
        return True
    if judge.provider != "ollama":
        # An OpenAI-compatible server manages its own models; the collector drops an
        # embedded candidate once no queued cell needs it.
        return False
    return any(m.model != judge.name for m in deps.ollama.ps().models)


def judge_unscored_runs(deps: JudgeDeps, experiment: str, judge: ModelRef) -> tuple[int, int]:
    """Let the model score the runs it has not scored; invalid answers become judge failures.
    Returns how many items it scored and how many failed."""
    judge_id = llm_judge_id(judge)
    packet, item_runs = packet_for_judge(deps.packets, deps.scores, experiment, judge_id)
    scored = failed = 0
    with judge_loaded(deps, judge) as chat:
        for start in range(0, len(packet.items), BATCH_ITEMS):
            batch = packet.model_copy(update={"items": packet.items[start : start + BATCH_ITEMS]})
            scores, failures = score_packet(chat, judge.name, batch, judge_id)
            for failure in failures:
                run_id = item_runs[failure.item_id]
                deps.scores.record_failure(experiment, judge_id, run_id, failure.error)
            if scores is not None:
                run_ids = ingest_locked(deps, experiment, scores)
                announce_scores(deps, experiment, scores, len(scores.scores), run_ids)
                scored += len(scores.scores)
            failed += len(failures)
    return scored, failed


@contextmanager
def judge_loaded(deps: JudgeDeps, judge: ModelRef) -> Iterator[Chat]:
    """How to ask the judge; afterwards its memory is freed (an embedded judge's even after
    a failure: the next job's candidate needs the room)."""
    try:
        yield judge_chat(deps, judge)
    finally:
        if judge.provider == "gguf":
            deps.embedded.release()
    if judge.provider == "ollama":
        deps.ollama.generate(model=judge.name, keep_alive=0)  # free the judge model
