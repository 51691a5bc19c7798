"""An LLM judge's core: the prompt, how to ask a model for a verdict, how to read its answer.

The judge bridge (scoring packets) and `tipbench.mlflow_scorer` (scoring a user's traces in
`mlflow.genai.evaluate`) both judge through these functions, so a model scores by the same
prompt and schema wherever it judges. The model answers in the rubric's verdict schema:
Ollama's structured outputs (`format`), an OpenAI-compatible `response_format`, or, for an
embedded GGUF judge, a llama.cpp grammar. An answer that is not valid JSON of that schema is
asked again, a bounded number of times; then the verdict fails, it is never a zero.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
import ollama
from pydantic import ValidationError

from shared.contracts import ItemScore, PairJudgment
from shared.errors import InvalidVerdict, ProviderUnavailable
from shared.model_names import LLM_JUDGE_PREFIX as LLM_JUDGE_PREFIX  # re-exported
from shared.model_names import ModelRef
from shared.rubric import Rubric
from shared.strictjson import strict_loads

ATTEMPTS = 3
RATIONALE_LIMIT = 2000

# (model, messages, JSON schema) -> the model's text answer
Chat = Callable[[str, list[dict[str, str]], dict[str, Any]], str]
T = TypeVar("T")
# What a pairwise judge answers: the better side, and why.
PAIR_VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "winner": {"type": "string", "enum": ["a", "b", "tie"]},
        "rationale": {"type": "string", "maxLength": RATIONALE_LIMIT},
    },
    "required": ["winner", "rationale"],
    "additionalProperties": False,
}


def llm_judge_id(model: ModelRef) -> str:
    """The judge id an LLM judge scores under, e.g. `llm:qwen2.5:7b`."""
    return f"{LLM_JUDGE_PREFIX}{model.raw}"


def verdict_messages(rubric: Mapping[str, Any], context: str, answer: str) -> list[dict[str, str]]:
    """The chat asking the model to score one answer, written for `context`, against the
    rubric (as `Rubric.as_dict()` gives it)."""
    system = (
        "You are a strict, fair judge of short practical tips. Score the answer against "
        "this rubric and reply with JSON only.\n" + json.dumps(rubric, indent=1)
    )
    user = f"{context}\n\nAnswer to judge:\n{answer}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


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


def ask_verdict(
    chat: Chat, model: str, messages: list[dict[str, str]], rubric: Rubric
) -> ItemScore:
    """The model's verdict, asked up to ATTEMPTS times; InvalidVerdict with the last
    problem if no answer was valid, ProviderUnavailable if the model cannot be reached."""
    return ask(chat, model, messages, rubric.verdict_schema(), lambda t: read_verdict(t, rubric))


def pair_messages(
    rubric: Mapping[str, Any], context: str, answer_a: str, answer_b: str
) -> list[dict[str, str]]:
    """The chat asking the model which of two answers, written for `context`, is better
    by the rubric (the pairwise protocol)."""
    system = (
        "You are a strict, fair judge of short practical tips. Two answers were written for "
        "the same request. Using this rubric as the measure of quality, say which answer is "
        'better: "a", "b", or "tie" if neither is. Do not favour an answer for its position '
        "or its length. Reply with JSON only.\n" + json.dumps(rubric, indent=1)
    )
    user = f"{context}\n\nAnswer A:\n{answer_a}\n\nAnswer B:\n{answer_b}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def read_pair_verdict(text: str) -> PairJudgment:
    """The judge's JSON answer as a pair judgment (pair_id left as "-"); ValueError if it is
    not JSON of PAIR_VERDICT_SCHEMA."""
    answer = strict_loads(text)
    if not isinstance(answer, dict) or set(answer) != {"winner", "rationale"}:
        raise ValueError('the answer is not a JSON object of "winner" and "rationale"')
    return PairJudgment(pair_id="-", **answer)


def ask_pair_verdict(chat: Chat, model: str, messages: list[dict[str, str]]) -> PairJudgment:
    """The model's pairwise verdict, asked like ask_verdict."""
    return ask(chat, model, messages, PAIR_VERDICT_SCHEMA, read_pair_verdict)


def ask(
    chat: Chat,
    model: str,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    read: Callable[[str], T],
) -> T:
    """The model's answer under `schema`, read by `read`, asked up to ATTEMPTS times;
    InvalidVerdict with the last problem if no answer was valid, ProviderUnavailable if
    the model cannot be reached."""
    error = ""
    for _ in range(ATTEMPTS):
        try:
            return read(chat(model, messages, schema))
        except (ValidationError, ValueError, KeyError, httpx.HTTPStatusError) as exc:
            error = f"invalid answer: {str(exc).splitlines()[0]}"
        except (ConnectionError, httpx.TransportError, ollama.ResponseError) as exc:
            raise ProviderUnavailable(f"LLM judge {model} unreachable: {exc}") from exc
    raise InvalidVerdict(error)


def ollama_chat(client: ollama.Client) -> Chat:
    """Ask through Ollama, with the schema as its structured-output `format`."""

    def chat(model: str, messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
        answer = client.chat(
            model=model, messages=messages, format=schema, options={"temperature": 0}
        )
        return answer.message.content or ""

    return chat


# The grammar bounds the rationale: a 135M model otherwise repeats itself up to any limit,
# and llama.cpp refuses the grammar of the schema's 2000 characters (then crashes).
RATIONALE_CHARS = 300


def text_pattern(max_chars: int) -> str:
    """Up to max_chars characters, none a quote, a backslash or a control character.

    llama-cpp-python's own string rule lets a raw newline through, which strict JSON
    refuses; a rationale needs no escapes.
    """
    return rf'^[^"\\\x00-\x1F\x7F]{{0,{max_chars}}}$'


def grammar_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The verdict schema in the terms llama-cpp-python's grammar converter enforces.

    The converter ignores `minimum`/`maximum`, so an integer range becomes the `enum` of its
    values, and the rationale a text_pattern of at most RATIONALE_CHARS. Every answer of the
    result is valid against the original schema.
    """
    properties: dict[str, Any] = {}
    for name, field in schema["properties"].items():
        if field.get("type") == "integer" and "minimum" in field and "maximum" in field:
            field = {"type": "integer", "enum": list(range(field["minimum"], field["maximum"] + 1))}
        elif field.get("type") == "string":
            limit = min(field.get("maxLength", RATIONALE_CHARS), RATIONALE_CHARS)
            field = {"type": "string", "pattern": text_pattern(limit)}
        properties[name] = field
    return schema | {"properties": properties}


def openai_chat(http: httpx.Client) -> Chat:
    """Ask an OpenAI-compatible server, with the schema as its `response_format`.

    OpenAI's form (`json_schema`) first; a server that refuses it for its response format
    (llama-cpp-python's own server knows only llama.cpp's `json_object` + `schema`) is
    asked in that form, with the schema llama.cpp's grammar can hold, then and afterwards."""
    forms: list[Callable[[dict[str, Any]], dict[str, Any]]] = [
        lambda schema: {
            "type": "json_schema",
            "json_schema": {"name": "verdict", "schema": schema, "strict": True},
        },
        lambda schema: {"type": "json_object", "schema": grammar_schema(schema)},
    ]

    def chat(model: str, messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
        while True:
            body = {
                "model": model,
                "messages": messages,
                "temperature": 0,
                "response_format": forms[0](schema),
            }
            response = http.post("/chat/completions", json=body)
            refused_format = response.status_code >= 400 and "response_format" in response.text
            if refused_format and len(forms) > 1:
                forms.pop(0)
                continue
            if response.status_code >= 500:
                raise ConnectionError(f"{response.status_code} {response.text[:200]}")
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"] or "")

    return chat
