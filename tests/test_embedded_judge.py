"""The embedded LLM judge (`llm:gguf:smollm2-135m`): llama.cpp in the judge bridge, its
answers constrained by a grammar from the rubric's verdict schema."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from services.judge_bridge.embedded import EmbeddedJudge
from services.judge_bridge.llm_judge import judge_messages
from shared.contracts import JudgePacket, PacketItem, PacketScenario
from shared.errors import UnknownModel
from shared.llm_judging import RATIONALE_CHARS, grammar_schema, read_verdict
from shared.model_names import gguf_file
from shared.rubric import Rubric
from shared.suite_files import builtin_suite, parse_suite
from tests.conftest import unavailable, wait_until

EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "study-tips.yaml"
JUDGE = "llm:gguf:smollm2-135m"


@pytest.fixture(scope="module")
def embedded_model() -> str:
    """The catalog name of the embedded model, once its package and llama.cpp are there."""
    try:
        gguf_file("smollm2-135m")
    except UnknownModel as exc:
        unavailable(f"the embedded model ({exc})")
    if importlib.util.find_spec("llama_cpp") is None:
        unavailable("llama-cpp-python (pip install 'tipbench[embedded]')")
    return "smollm2-135m"


def test_the_grammar_schema_enforces_what_llama_cpp_would_ignore() -> None:
    # Given the verdict schema of tip-v1 (items 1-5, flags 0/1, a 2000-character rationale)
    schema = builtin_suite("tip-v1").rubric.verdict_schema()
    # When it is made into the schema the grammar is compiled from
    grammar = grammar_schema(schema)
    # Then integer ranges are enums of their values, the rationale is capped text that needs
    # no escape (no newline: strict JSON refuses a raw one), the rest is kept
    assert grammar["properties"]["relevance"] == {"type": "integer", "enum": [1, 2, 3, 4, 5]}
    assert grammar["properties"]["overlong"] == schema["properties"]["overlong"]
    rationale = re.compile(grammar["properties"]["rationale"]["pattern"])
    assert rationale.fullmatch("Fits; one tip is vague.")
    assert not rationale.fullmatch("x" * (RATIONALE_CHARS + 1))
    assert not any(rationale.fullmatch(t) for t in ("two\nlines", 'a "quote"', "back\\slash"))
    assert (grammar["required"], grammar["additionalProperties"]) == (schema["required"], False)
    assert schema["properties"]["rationale"]["maxLength"] == 2000  # the input is not changed


def packet_of(rubric: Rubric, answers: list[str]) -> JudgePacket:
    """A packet of one student's candidates, one item per answer."""
    scenario = PacketScenario(
        id="freshman-eve",
        vars={"student": "a first-year student", "moment": "the evening before an exam"},
        n_tips=3,
        word_limit=25,
    )
    return JudgePacket(
        schema_version="tipbench.judge-packet/2",
        packet_id="p-embedded",
        experiment="embedded",
        rubric=rubric.as_dict(),
        instructions="Score every item.",
        score_file_example={},
        items=[
            PacketItem(item_id=f"i{n}", scenario=scenario, answer=answer, tips=[])
            for n, answer in enumerate(answers)
        ],
    )


@pytest.mark.slow
def test_the_embedded_judge_answers_json_of_a_custom_rubrics_verdict_schema(
    embedded_model: str,
) -> None:
    # Given study-tips' rubric (items relevance, calm; flags format_ok, overlong)
    rubric = parse_suite(EXAMPLE.read_text("utf-8")).rubric
    assert rubric.score_names == ("relevance", "calm", "format_ok", "overlong")
    packet = packet_of(
        rubric,
        [
            "1. Lay out tomorrow's things.\n2. Review one page.\n3. Sleep by eleven.",
            "Study all night, you can sleep after the exam!!!",
        ],
    )
    schema = rubric.verdict_schema()
    judge = EmbeddedJudge(n_threads=1)
    # When the embedded chat is asked about each item
    answers = [judge(embedded_model, judge_messages(packet, item), schema) for item in packet.items]
    # Then every answer is JSON of the verdict schema, as tipbench reads verdicts
    for text in answers:
        jsonschema.validate(json.loads(text), schema)
        assert rubric.check_scores(read_verdict(text, rubric).values(), "verdict") == []
    assert judge.loaded == embedded_model
    # ... and release drops the model
    judge.release()
    assert judge.loaded is None


def test_an_embedded_judge_passes_the_gateways_validation(api: httpx.Client) -> None:
    # Nothing to judge (404), but the name itself is accepted (not 422)
    posted = api.post("/api/bench/judge/embedded-none/run", json={"model": "gguf:smollm2-135m"})
    assert posted.status_code == 404


@pytest.mark.slow
def test_the_embedded_judge_scores_every_run_of_a_job_with_the_rubric(
    api: httpx.Client, embedded_model: str
) -> None:
    # Given a 3-cell job that names the embedded judge
    body = {
        "models": ["tidy:1b"],
        "prompts": ["v1"],
        "n_scenarios": 3,
        "experiment": "embedded-judge",
        "judge": JUDGE,
    }
    assert api.post("/api/bench/run", json=body).status_code == 202

    # When the job ends, the judge scores every run, unasked
    def scored() -> Any:
        runs = api.get("/api/bench/runs/embedded-judge").json()
        ok = len(runs) == 3 and all(f"judge/{JUDGE}/composite" in r["metrics"] for r in runs)
        return runs if ok else None

    runs = wait_until(scored, timeout_s=300, what="the embedded judge's scores")
    # Then every item has a score valid against the rubric, and no judge failure
    assert api.get("/api/bench/judge/embedded-judge/failures").json() == []
    rubric = builtin_suite("tip-v1").rubric
    for run in runs:
        values = {n: run["metrics"][f"judge/{JUDGE}/{n}"] for n in rubric.score_names}
        assert rubric.check_scores({n: int(v) for n, v in values.items()}, "run") == []
        assert all(float(v).is_integer() for v in values.values())
        assert run["metrics"][f"judge/{JUDGE}/composite"] == rubric.composite(values)

    # ... and the leaderboard counts them
    def judged_board() -> Any:
        answer = api.get("/api/bench/leaderboard/embedded-judge")
        rows = answer.json()["rows"] if answer.status_code == 200 else []
        return answer.json() if rows and all(r["n_scored"] == 3 for r in rows) else None

    board = wait_until(judged_board, timeout_s=60, what="the judged leaderboard")
    (row,) = board["rows"]
    assert (row["model"], row["n"], row["awaiting_judge"]) == ("tidy:1b", 3, False)
    assert row["mean_composite"] is not None
