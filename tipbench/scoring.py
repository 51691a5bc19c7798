"""tipbench's rubric as an MLflow scorer, for `mlflow.genai.evaluate` on a user's own traces.

A judge from MLflow's `make_judge` returns one feedback from instructions of its own: a
second judge prompt, and a call per criterion. tipbench's scorer is a custom `@scorer` that
asks the model once through tipbench's own LLM-judge core (the same prompt, verdict schema,
retries and reading as the judge bridge) and returns one feedback per rubric item and flag,
plus the composite: the feedback the judge bridge writes on tipbench's own traces.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlflow.entities import AssessmentError, Feedback
from mlflow.genai.scorers import Scorer, scorer

from shared.errors import InvalidVerdict, UnknownModel
from shared.feedback import criterion_feedback, judge_source
from shared.judge_clients import SettingsClients, remote_chat
from shared.llm_judging import Chat, ask_verdict, llm_judge_id, verdict_messages
from shared.model_names import ModelRef, parse_model
from shared.rubric import COMPOSITE, Rubric
from shared.settings import Settings
from shared.suite_files import BUILTIN_SUITES, builtin_suite

INVALID_VERDICT = "INVALID_VERDICT"  # the error code of a criterion the judge left unscored


def load_rubric(rubric: Rubric | Mapping[str, Any] | str) -> Rubric:
    """A rubric given as itself, as data (`Rubric.as_dict()`, a suite file's `rubric`), or
    by the name of a built-in suite (tip-v1, tip-v2)."""
    if isinstance(rubric, Rubric):
        return rubric
    if isinstance(rubric, str):
        if rubric not in BUILTIN_SUITES:
            raise ValueError(
                f"rubric {rubric!r}: name a built-in suite ({', '.join(BUILTIN_SUITES)})"
                " or pass the rubric itself"
            )
        return builtin_suite(rubric).rubric
    return Rubric.from_dict(rubric)


def _chat(model: ModelRef, settings: Settings) -> Chat:
    chat = remote_chat(model, SettingsClients(settings))
    if chat is not None:
        return chat
    raise UnknownModel(
        f"judge model {model.raw!r}: the MLflow scorer asks Ollama (`<name>`) or an"
        " OpenAI-compatible server (`openai:<name>`); embedded gguf: judges run in the"
        " judge bridge only"
    )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "\n".join(f"{key}: {_text(item)}" for key, item in value.items())
    return json.dumps(value, ensure_ascii=False, default=str)


def mlflow_scorer(
    rubric: Rubric | Mapping[str, Any] | str,
    model: str,
    *,
    name: str | None = None,
    settings: Settings | None = None,
) -> Scorer:
    """A scorer judging `outputs` for `inputs` by the rubric with an LLM judge (`qwen2.5:7b`
    through Ollama, `openai:<name>` through an OpenAI-compatible server): one feedback per
    item and flag, and the composite. Addresses come from `settings` (TIPBENCH_*)."""
    judged_by = load_rubric(rubric)
    judge = parse_model(model)
    chat = _chat(judge, settings or Settings())
    source = judge_source(llm_judge_id(judge), "llm")
    shown = judged_by.as_dict()

    def judge_answer(inputs: Any, outputs: Any) -> list[Feedback]:
        messages = verdict_messages(shown, _text(inputs), _text(outputs))
        try:
            verdict = ask_verdict(chat, judge.name, messages, judged_by)
        except InvalidVerdict as exc:
            # MLflow's way to say "not scored": an error, never a value that looks like one
            error = AssessmentError(error_code=INVALID_VERDICT, error_message=str(exc))
            return [
                Feedback(name=criterion, error=error, source=source)
                for criterion in (*judged_by.score_names, COMPOSITE)
            ]
        return criterion_feedback(
            judged_by, verdict.values(), verdict.rationale, source, {"judge_kind": "llm"}
        )

    return scorer(judge_answer, name=name or judged_by.id)
