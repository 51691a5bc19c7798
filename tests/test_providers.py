"""Specs of the model providers and the model session, against the fake Ollama and the real GGUF."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.collector.providers import GenerationOptions
from services.collector.providers.gguf import GgufProvider, file_sha256, gguf_params_b
from services.collector.providers.ollama import OllamaProvider
from services.collector.providers.openai_compat import OpenAICompatibleProvider
from services.collector.session import ModelSession
from shared.errors import (
    ModelSizeUnknown,
    ModelTooLarge,
    ProviderBadResponse,
    ProviderUnavailable,
    UnknownModel,
)
from shared.model_names import gguf_file, parse_parameter_size
from shared.suite import render_prompt
from shared.suite_files import builtin_suite
from testkit.fake_ollama import FakeOllama
from testkit.processes import free_port

OPTIONS = GenerationOptions(temperature=0.0, seed=7, num_predict=200, num_ctx=2048)


@pytest.fixture
def ollama(fake_ollama: FakeOllama) -> OllamaProvider:
    fake_ollama.state.reset()
    return OllamaProvider(fake_ollama.url, timeout_s=5, load_timeout_s=10)


@pytest.mark.parametrize(
    ("label", "billions"),
    [("1.5B", 1.5), ("135M", 0.135), ("8x7B", 56.0), ("7b", 7.0), ("", None), ("big", None)],
)
def test_parameter_size_labels_parse_to_billions(label: str, billions: float | None) -> None:
    assert parse_parameter_size(label) == billions


def test_ollama_describe_reads_show_details_and_parameter_count(ollama: OllamaProvider) -> None:
    assert ollama.describe("tidy:1b").params_b == 1.0
    assert ollama.describe("rambler:2b").params_b == 2.0  # from general.parameter_count
    assert ollama.describe("mystery:latest").params_b is None


def test_ollama_generate_converts_nanoseconds_to_seconds(
    ollama: OllamaProvider, fake_ollama: FakeOllama
) -> None:
    prompt = render_prompt(builtin_suite("tip-v1"), "v1", "student@morning", 3)
    generation = ollama.generate("tidy:1b", prompt.messages, OPTIONS)
    assert generation.text.count("\n") == 2
    assert generation.generation_s == pytest.approx(0.4)
    assert generation.prompt_eval_s == pytest.approx(0.05)
    assert generation.tokens_per_s == pytest.approx(generation.completion_tokens / 0.4)
    sent = fake_ollama.state.calls_to("/api/chat")[-1]
    assert sent["options"] == {"temperature": 0.0, "seed": 7, "num_predict": 200, "num_ctx": 2048}


@pytest.mark.parametrize("keep_alive", [False, True])
def test_the_fake_keeps_a_connection_open_only_when_asked(keep_alive: bool) -> None:
    fake = FakeOllama(keep_alive=keep_alive).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", int(fake.url.rsplit(":", 1)[1]))
        peers = []
        for _ in range(2):
            connection.request("GET", "/api/version")
            answer = connection.getresponse()
            assert answer.status == 200 and json.loads(answer.read())["version"]
            peers.append(connection.sock.getsockname() if connection.sock else None)
        connection.close()
    finally:
        fake.stop()
    if keep_alive:  # both answers on one connection, left open
        assert peers[0] is not None and peers[0] == peers[1]
    else:  # HTTP/1.0: the server closes each connection after its answer
        assert peers == [None, None]


def test_ollama_missing_model_is_unknown(ollama: OllamaProvider) -> None:
    with pytest.raises(UnknownModel, match="no-such:model"):
        ollama.describe("no-such:model")


def test_ollama_unreachable_is_a_transient_error() -> None:
    provider = OllamaProvider(f"http://127.0.0.1:{free_port()}", timeout_s=2, load_timeout_s=2)
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        provider.generate("tidy:1b", [{"role": "user", "content": "hi"}], OPTIONS)


def test_session_unloads_the_previous_model_before_loading_the_next(
    ollama: OllamaProvider, fake_ollama: FakeOllama
) -> None:
    session = ModelSession({"ollama": ollama})
    for model in ["tidy:1b", "tidy:1b", "rambler:2b", "rambler:2b", "tidy:1b"]:
        session.use(model, max_model_b=4, allow_unknown_size=False)
    assert fake_ollama.state.loads == ["tidy:1b", "rambler:2b", "tidy:1b"]
    assert fake_ollama.state.max_resident == 1
    assert session.loads == 3
    unloads = [c for c in fake_ollama.state.calls_to("/api/generate") if c.get("keep_alive") == 0]
    assert [c["model"] for c in unloads] == ["tidy:1b", "rambler:2b"]


@pytest.mark.parametrize(
    ("model", "allow_unknown", "error", "message"),
    [
        ("giant:8b", False, ModelTooLarge, "giant:8b has 8.00B parameters, over max_model_b=4"),
        ("giant:8b", True, ModelTooLarge, "over max_model_b"),
        ("mystery:latest", False, ModelSizeUnknown, "parameter count unknown"),
    ],
)
def test_session_size_guard_refuses_before_loading(
    ollama: OllamaProvider,
    fake_ollama: FakeOllama,
    model: str,
    allow_unknown: bool,
    error: type[Exception],
    message: str,
) -> None:
    session = ModelSession({"ollama": ollama})
    with pytest.raises(error, match=message):
        session.use(model, max_model_b=4, allow_unknown_size=allow_unknown)
    assert fake_ollama.state.loads == []


def test_a_declared_size_stands_in_only_for_a_size_the_provider_does_not_report(
    ollama: OllamaProvider,
) -> None:
    session = ModelSession({"ollama": ollama})
    declared = session.use("mystery:latest", max_model_b=4, allow_unknown_size=False, declared_b=3)
    assert (declared.info.params_b, declared.info.details["params_b_source"]) == (3, "declared")
    with pytest.raises(ModelTooLarge, match="8.00B"):
        session.use("mystery:latest", max_model_b=4, allow_unknown_size=False, declared_b=8)
    # a later cell of the same resident model that declares nothing is of unknown size again
    session.use("mystery:latest", max_model_b=4, allow_unknown_size=False, declared_b=3)
    with pytest.raises(ModelSizeUnknown):
        session.use("mystery:latest", max_model_b=4, allow_unknown_size=False)
    reported = session.use("tidy:1b", max_model_b=4, allow_unknown_size=False, declared_b=3)
    assert reported.info.params_b == 1.0 and "params_b_source" not in reported.info.details


def test_session_runs_unknown_sizes_when_allowed(
    ollama: OllamaProvider, fake_ollama: FakeOllama
) -> None:
    ModelSession({"ollama": ollama}).use("mystery:latest", max_model_b=4, allow_unknown_size=True)
    assert fake_ollama.state.loads == ["mystery:latest"]


@pytest.mark.slow
def test_embedded_smollm2_generates_for_real() -> None:
    provider = GgufProvider(n_threads=2)
    info = provider.describe("smollm2-135m")
    assert info.params_b == pytest.approx(0.135)
    assert info.quantization == "Q4_1"
    assert info.digest.startswith("sha256:") and len(info.digest) == 7 + 64
    prompt = render_prompt(builtin_suite("tip-v1"), "v3-few-shot", "founder@morning", 3)
    generation = provider.generate("smollm2-135m", prompt.messages, OPTIONS)
    assert generation.completion_tokens > 0
    assert generation.text.strip()
    assert generation.tokens_per_s > 0
    provider.unload("smollm2-135m")


def test_gguf_size_comes_from_the_label_else_from_the_weights() -> None:
    assert gguf_params_b({"general.size_label": "135M"}, 134_515_008) == pytest.approx(0.135)
    assert gguf_params_b({}, 3_821_079_552) == pytest.approx(3.821, abs=1e-3)
    assert gguf_params_b({"general.size_label": "big"}, 0) is None


@pytest.mark.slow
def test_a_gguf_file_of_the_models_folder_runs_by_its_name(tmp_path: Path) -> None:
    # Given a models folder holding a GGUF file the catalog does not know
    (tmp_path / "my-tiny.gguf").symlink_to(gguf_file("smollm2-135m"))
    provider = GgufProvider(n_threads=2, gguf_dir=str(tmp_path))
    # Then gguf:my-tiny is described from the file's own metadata and digested
    info = provider.describe("my-tiny")
    assert info.params_b == pytest.approx(0.135)
    assert info.digest == f"sha256:{file_sha256(tmp_path / 'my-tiny.gguf')}"
    assert info.details["file"] == str(tmp_path / "my-tiny.gguf")
    prompt = render_prompt(builtin_suite("tip-v1"), "v1", "founder@morning", 3)
    assert provider.generate("my-tiny", prompt.messages, OPTIONS).text.strip()
    # describing another file reads its header only: the loaded model stays, nothing loads
    (tmp_path / "other-tiny.gguf").symlink_to(gguf_file("smollm2-135m"))
    assert provider.describe("other-tiny").params_b == pytest.approx(0.135)
    assert provider._loaded is not None and provider._loaded[0] == "my-tiny"
    provider.unload("my-tiny")
    # and a name the folder does not hold is refused, naming what it holds
    with pytest.raises(UnknownModel, match=r"no other\.gguf in the models folder.*gguf:my-tiny"):
        provider.describe("other")


@pytest.fixture
def openai_server(fake_ollama: FakeOllama) -> Iterator[OpenAICompatibleProvider]:
    provider = OpenAICompatibleProvider(f"{fake_ollama.url}/v1", api_key="k", timeout_s=5)
    yield provider
    provider.close()


def test_openai_compatible_describe_reads_llama_server_n_params(
    openai_server: OpenAICompatibleProvider,
) -> None:
    assert openai_server.describe("rambler:2b").params_b == 2.0
    assert openai_server.describe("tidy:1b").params_b is None  # no meta: size unknown
    with pytest.raises(UnknownModel, match="no model 'absent'"):
        openai_server.describe("absent")


def test_openai_compatible_generate_uses_the_server_timings(
    openai_server: OpenAICompatibleProvider, fake_ollama: FakeOllama
) -> None:
    prompt = render_prompt(builtin_suite("tip-v1"), "v2-mentor", "nurse@morning", 2)
    generation = openai_server.generate("tidy:1b", prompt.messages, OPTIONS)
    assert generation.text.count("\n") == 1
    assert (generation.prompt_eval_s, generation.generation_s) == (
        pytest.approx(0.02),
        pytest.approx(0.25),
    )
    sent = fake_ollama.state.calls_to("/v1/chat/completions")[-1]
    assert (sent["seed"], sent["max_tokens"], sent["stream"]) == (7, 200, False)


def test_openai_compatible_unreachable_is_a_transient_error() -> None:
    provider = OpenAICompatibleProvider(
        f"http://127.0.0.1:{free_port()}/v1", api_key="", timeout_s=2
    )
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        provider.describe("tidy:1b")


def test_a_cold_load_gets_the_long_timeout_and_a_warm_call_the_short_one(
    fake_ollama: FakeOllama,
) -> None:
    # Given loads and generations that both take 1.5 s
    fake_ollama.state.reset()
    fake_ollama.state.load_delay_s = 1.5
    provider = OllamaProvider(fake_ollama.url, timeout_s=1.0, load_timeout_s=5.0)
    try:
        # Then loading fits the load timeout...
        provider.load("tidy:1b")
        assert fake_ollama.state.loads == ["tidy:1b"]
        # ...while a generation past the warm timeout is a transient failure
        fake_ollama.state.generation_delay_s = 1.5
        with pytest.raises(ProviderUnavailable, match="timed out"):
            provider.generate("tidy:1b", [{"role": "user", "content": "hi"}], OPTIONS)
    finally:
        fake_ollama.state.reset()


def test_a_malformed_answer_is_a_transient_bad_response(
    ollama: OllamaProvider, fake_ollama: FakeOllama
) -> None:
    fake_ollama.state.malformed.add("tidy:1b")
    try:
        with pytest.raises(ProviderBadResponse, match="malformed"):
            ollama.generate("tidy:1b", [{"role": "user", "content": "hi"}], OPTIONS)
    finally:
        fake_ollama.state.reset()
