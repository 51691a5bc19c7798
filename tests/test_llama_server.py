"""The `openai:` provider against a real OpenAI-compatible server: llama-cpp-python's own
(`python -m llama_cpp.server`, its `server` extra) serving the SmolLM2 GGUF file."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from services.collector.providers import GenerationOptions
from services.collector.providers.openai_compat import OpenAICompatibleProvider
from services.collector.session import ModelSession
from shared.errors import ModelSizeUnknown, UnknownModel
from shared.llm_judging import ask_verdict, openai_chat, verdict_messages
from shared.model_names import gguf_file
from shared.suite import render_prompt
from shared.suite_files import builtin_suite
from testkit.processes import free_port
from tests.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.full]
ALIAS = "smollm2"
OPTIONS = GenerationOptions(temperature=0.0, seed=7, num_predict=120, num_ctx=2048)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/models", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """The server on a free port; its base URL (…/v1)."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf_file("smollm2-135m")),
            "--model_alias",
            ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until(
            lambda: process.poll() is None and _answers(url) or process.poll() is not None,
            timeout_s=120,
            what="llama_cpp.server",
        )
        assert process.poll() is None, "llama_cpp.server exited at start"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def provider(llama_server: str) -> Iterator[OpenAICompatibleProvider]:
    found = OpenAICompatibleProvider(llama_server, api_key="", timeout_s=120)
    yield found
    found.close()


def test_the_openai_provider_generates_through_a_real_llama_cpp_server(
    provider: OpenAICompatibleProvider,
) -> None:
    # The server lists the model without a parameter count (as vLLM and LM Studio do)
    info = provider.describe(ALIAS)
    assert info.params_b is None
    prompt = render_prompt(builtin_suite("tip-v1"), "v1", "founder@morning", 3)
    generation = provider.generate(ALIAS, prompt.messages, OPTIONS)
    assert generation.text.strip()
    assert generation.completion_tokens > 0 and generation.prompt_tokens > 0
    assert generation.generation_s > 0 and generation.total_s >= generation.generation_s * 0.5


def test_a_model_the_server_does_not_serve_is_unknown(provider: OpenAICompatibleProvider) -> None:
    with pytest.raises(UnknownModel, match="has no model 'other-model'"):
        provider.describe("other-model")


def test_its_unknown_size_is_refused_unless_allowed(provider: OpenAICompatibleProvider) -> None:
    session = ModelSession({"openai": provider})
    with pytest.raises(ModelSizeUnknown, match="parameter count unknown"):
        session.use(f"openai:{ALIAS}", max_model_b=4.0, allow_unknown_size=False)
    assert session.use(f"openai:{ALIAS}", max_model_b=4.0, allow_unknown_size=True)
    # or runs with the size the user declares (as `"sizes": {"openai:smollm2": 0.135}`)
    session.release()
    declared = session.use(
        f"openai:{ALIAS}", max_model_b=4.0, allow_unknown_size=False, declared_b=0.135
    )
    assert declared.info.params_b == 0.135


def test_the_llm_judge_gets_schema_valid_verdicts_from_a_real_llama_cpp_server(
    llama_server: str,
) -> None:
    # Given the judge path's own prompt and OpenAI-compatible client, aimed at the server
    # (llama-cpp-python's server refuses OpenAI's json_schema response format: the client
    # falls back to llama.cpp's json_object + schema, a grammar: every answer parses)
    rubric = builtin_suite("tip-v1").rubric
    answer = "1. Drink a glass of water.\n2. Stretch for a minute.\n3. Plan one task."
    messages = verdict_messages(rubric.as_dict(), "A student in the morning.", answer)
    with httpx.Client(base_url=llama_server, timeout=120) as http:
        verdict = ask_verdict(openai_chat(http), ALIAS, messages, rubric)
    # Then the verdict holds every rubric item and flag, in range
    values = verdict.values()
    assert set(values) == {item.id for item in rubric.items} | {f.id for f in rubric.flags}
    assert all(1 <= values[item.id] <= 5 for item in rubric.items)
