"""Specs of the demo's choice of local Ollama models (a real HTTP server: the fake Ollama)."""

from __future__ import annotations

from shared.settings import Settings
from testkit.fake_ollama import FakeModel, FakeOllama
from tipbench.cli.local import ollama_models


def test_the_demo_takes_only_models_a_default_request_allows(core_settings: Settings) -> None:
    fake = FakeOllama()
    for name, size in [("big:8b", "8B"), ("odd:latest", ""), ("small:1b", "1B"), ("edge:4b", "4B")]:
        fake.add(FakeModel(name, parameter_size=size))
    fake.add(FakeModel("tiny:0.5b", parameter_size="500M"))
    fake.start()
    try:
        chosen = ollama_models(core_settings.model_copy(update={"ollama_host": fake.url}))
    finally:
        fake.stop()
    # At most max_model_b's default (4B), of known size, the first two Ollama lists
    assert chosen == ["small:1b", "edge:4b"]


def test_the_demo_takes_no_ollama_model_when_none_answers(core_settings: Settings) -> None:
    assert (
        ollama_models(core_settings.model_copy(update={"ollama_host": "http://127.0.0.1:9"})) == []
    )
