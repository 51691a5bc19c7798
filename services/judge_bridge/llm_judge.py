"""An LLM judge: a model scores every candidate of a packet, answering in the rubric's JSON.

The model answers in the rubric's verdict schema: Ollama's structured outputs (`format`),
an OpenAI-compatible `response_format`, or, for an embedded GGUF judge, a llama.cpp grammar
(embedded.py). An answer that is not valid JSON of that schema is asked again, a bounded
number of times; after that the item is recorded as a judge failure, never scored as zero.
The judge is loaded only once the collector is idle, so it never shares memory with a
candidate model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import ollama
from pydantic import ValidationError

from services.judge_bridge.deps import JudgeDeps
from services.judge_bridge.ingest import announce_scores, ingest_locked
from shared.contracts import ItemScore, JudgePacket, PacketItem, ScoreFile
from shared.errors import ProviderUnavailable
from shared.judging import packet_for_judge
from shared.model_names import ModelRef
from shared.rubric import Rubric
from shared.strictjson import strict_loads

ATTEMPTS = 3
RATIONALE_LIMIT = 2000
# Scores are written every BATCH_ITEMS items: the leaderboard shows a slow judge's progress,
# and a bridge stopped mid-packet loses one batch of work, not the packet's.
BATCH_ITEMS = 4


def read_verdict(text: str, rubric: Rubric) -> ItemScore:
    """The judge's JSON answer as an item score (item_id left empty); ValueError if it is
    not JSON of the rubric's verdict schema."""
    answer = strict_loads(text)
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    rationale = answer.pop("rationale", None)
    if not isinstance(rationale, str) or len(rationale) > RATIONALE_LIMIT:
        raise ValueError(f"rationale must be text of at most {RATIONALE_LIMIT} characters")
    problems = rubric.check_scores(answer, "verdict")
    if problems:
        raise ValueError("; ".join(f"{p['field']}: {p['message']}" for p in problems))
    return ItemScore(item_id="-", rationale=rationale, **answer)


@dataclass(frozen=True)
class JudgeFailure:
    """An item the LLM judge could not score, and why."""

    item_id: str
    error: str


def judge_messages(packet: JudgePacket, item: PacketItem) -> list[dict[str, str]]:
    """The chat asking the model to score one item against the rubric."""
    system = (
        "You are a strict, fair judge of short practical tips. Score the answer against "
        "this rubric and reply with JSON only.\n" + json.dumps(packet.rubric, indent=1)
    )
    context = "\n".join(f"{name}: {value}" for name, value in item.scenario.vars.items())
    user = (
        f"{context}\nTips requested: {item.scenario.n_tips}, each under"
        f" {item.scenario.word_limit} words\n\nAnswer to judge:\n{item.answer}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# (model, messages, JSON schema) -> the model's text answer
Chat = Callable[[str, list[dict[str, str]], dict[str, Any]], str]


def ollama_chat(client: ollama.Client) -> Chat:
    """Ask through Ollama, with the schema as its structured-output `format`."""

    def chat(model: str, messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
        answer = client.chat(
            model=model, messages=messages, format=schema, options={"temperature": 0}
        )
        return answer.message.content or ""

    return chat


def openai_chat(http: httpx.Client) -> Chat:
    """Ask an OpenAI-compatible server, with the schema as its `response_format`."""

    def chat(model: str, messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
        response = http.post(
            "/chat/completions",
            json={
                "model": model,
                "messages": messages,
                "temperature": 0,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "verdict", "schema": schema, "strict": True},
                },
            },
        )
        if response.status_code >= 500:
            raise ConnectionError(f"{response.status_code} {response.text[:200]}")
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"] or "")

    return chat


def score_packet(
    chat: Chat, model: str, packet: JudgePacket, judge_id: str
) -> tuple[ScoreFile | None, list[JudgeFailure]]:
    """Score every item of the packet; returns the valid scores and the failures."""
    scores: list[ItemScore] = []
    failures: list[JudgeFailure] = []
    rubric = Rubric.from_dict(packet.rubric)
    schema = rubric.verdict_schema()
    for item in packet.items:
        error = ""
        for _ in range(ATTEMPTS):
            try:
                text = chat(model, judge_messages(packet, item), schema)
                verdict = read_verdict(text, rubric)
            except (ValidationError, ValueError, KeyError, httpx.HTTPStatusError) as exc:
                error = f"invalid answer: {str(exc).splitlines()[0]}"
                continue
            except (ConnectionError, httpx.TransportError, ollama.ResponseError) as exc:
                raise ProviderUnavailable(f"LLM judge {model} unreachable: {exc}") from exc
            scores.append(verdict.model_copy(update={"item_id": item.item_id}))
            break
        else:
            failures.append(JudgeFailure(item_id=item.item_id, error=error))
    if not scores:
        return None, failures
    score_file = ScoreFile(
        packet_id=packet.packet_id, judge_id=judge_id, judge_kind="llm", scores=scores
    )
    return score_file, failures


def judge_chat(deps: JudgeDeps, judge: ModelRef) -> Chat:
    """How to ask the judge: through Ollama, an OpenAI-compatible server, or in-process."""
    if judge.provider == "openai":
        return openai_chat(deps.openai)
    if judge.provider == "ollama":
        return ollama_chat(deps.ollama)
    return deps.embedded  # gguf: llama.cpp in this process


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
    judge_id = f"llm:{judge.raw}"
    chat = judge_chat(deps, judge)
    packet, item_runs = packet_for_judge(deps.packets, deps.scores, experiment, judge_id)
    scored = failed = 0
    try:
        for start in range(0, len(packet.items), BATCH_ITEMS):
            batch = packet.model_copy(update={"items": packet.items[start : start + BATCH_ITEMS]})
            scores, failures = score_packet(chat, judge.name, batch, judge_id)
            for failure in failures:
                run_id = item_runs[failure.item_id]
                deps.scores.record_failure(experiment, judge_id, run_id, failure.error)
            if scores is not None:
                announce_scores(deps, experiment, scores, ingest_locked(deps, experiment, scores))
                scored += len(scores.scores)
            failed += len(failures)
    finally:
        if judge.provider == "gguf":
            deps.embedded.release()  # even on failure: the next job's candidate needs room
    if judge.provider == "ollama":
        deps.ollama.generate(model=judge.name, keep_alive=0)  # free the judge model
    return scored, failed
