"""How an LLM judge is reached: the Ollama and OpenAI-compatible clients made from settings,
and the chat that asks a judge model through them.

The judge bridge keeps one of each client for the life of its process (`JudgeDeps`);
`tipbench.mlflow_scorer` makes the one its judge's provider needs (`SettingsClients`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Protocol

import httpx
import ollama

from shared.llm_judging import Chat, ollama_chat, openai_chat
from shared.model_names import ModelRef
from shared.settings import Settings


def ollama_client(settings: Settings) -> ollama.Client:
    """A client of the Ollama server that waits as long as loading a model may take."""
    return ollama.Client(host=settings.ollama_host, timeout=settings.ollama_load_timeout_s)


def openai_client(settings: Settings) -> httpx.Client:
    """An HTTP client of the OpenAI-compatible server, sending the API key if one is set."""
    key = settings.openai_api_key.get_secret_value()
    return httpx.Client(
        base_url=settings.openai_base_url.rstrip("/"),
        headers={"Authorization": f"Bearer {key}"} if key else {},
        timeout=settings.openai_timeout_s,
    )


class JudgeClients(Protocol):
    """Where a judge's chat finds its clients."""

    @property
    def ollama(self) -> ollama.Client: ...

    @property
    def openai(self) -> httpx.Client: ...


class SettingsClients:
    """A judge's clients made from settings, each when it is first used."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @cached_property
    def ollama(self) -> ollama.Client:
        return ollama_client(self._settings)

    @cached_property
    def openai(self) -> httpx.Client:
        return openai_client(self._settings)


def remote_chat(judge: ModelRef, clients: JudgeClients) -> Chat | None:
    """The chat asking `judge` through Ollama or an OpenAI-compatible server; None for an
    embedded (gguf) judge, which only the judge bridge runs, in its own process."""
    if judge.provider == "ollama":
        return ollama_chat(clients.ollama)
    if judge.provider == "openai":
        return openai_chat(clients.openai)
    return None
