"""The fake Ollama's models: tidy, rambling, too large, of unknown size, and LLM judges."""

from __future__ import annotations

import json

from testkit.fake_ollama import FakeModel, tidy_reply


def rambling_reply(model: str, messages: list[dict[str, str]]) -> str:
    """A badly formed answer: a preamble, the wrong count, an overlong tip."""
    long_tip = " ".join(["really"] * 40)
    return f"Sure! Here is some advice for you today, my friend.\n- {long_tip} rest.\n- Smile."


VERDICT = {
    "relevance": 4,
    "actionability": 3,
    "tone": 5,
    "format_ok": 1,
    "overlong": 0,
    "rationale": "Clear and doable.",
}


def judge_reply(model: str, messages: list[dict[str, str]]) -> str:
    """An LLM judge that always answers the rubric's JSON."""
    return json.dumps(VERDICT)


def erratic_judge_reply(model: str, messages: list[dict[str, str]]) -> str:
    """An LLM judge that is right for nurses, off-scale for students, not JSON otherwise."""
    asked = messages[-1]["content"]
    if "nurse" in asked:
        return json.dumps(VERDICT)
    if "student" in asked:
        return json.dumps(VERDICT | {"relevance": 9})
    return "I think this answer is quite good {"


def picky_judge_reply(model: str, messages: list[dict[str, str]]) -> str:
    """An LLM judge that marks rambling answers down (composite 5) and tidy ones up (14)."""
    if "really" in messages[-1]["content"]:  # the rambler's overlong tip
        low = {"relevance": 2, "actionability": 1, "tone": 3, "format_ok": 0, "overlong": 1}
        return json.dumps(VERDICT | low)
    return json.dumps(VERDICT)


def pair_judge_reply(model: str, messages: list[dict[str, str]]) -> str:
    """A pairwise LLM judge preferring the answer without the rambler's overlong tip."""
    first, _, second = messages[-1]["content"].partition("Answer B:")
    a_rambles, b_rambles = "really" in first, "really" in second
    winner = "tie" if a_rambles == b_rambles else "b" if a_rambles else "a"
    return json.dumps({"winner": winner, "rationale": "The other one rambles."})


FAKE_MODELS = (
    FakeModel("tidy:1b", parameter_size="1B", reply=tidy_reply),
    FakeModel("tidy-b:0.5b", parameter_size="500M"),
    FakeModel("tidy-c:3b", parameter_size="3B"),
    FakeModel("tidy-d:1.5b", parameter_size="1.5B"),
    FakeModel(
        "rambler:2b", parameter_size="2B", parameter_count=2_000_000_000, reply=rambling_reply
    ),
    FakeModel("giant:8b", parameter_size="8B"),
    FakeModel("mystery:latest", parameter_size=""),
    FakeModel("judge:8b", parameter_size="8B", reply=judge_reply),
    FakeModel("pair-judge:8b", parameter_size="8B", reply=pair_judge_reply),
    FakeModel("erratic-judge:8b", parameter_size="8B", reply=erratic_judge_reply),
    FakeModel("picky-judge:8b", parameter_size="8B", reply=picky_judge_reply),
)
