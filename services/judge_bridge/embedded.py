"""The embedded LLM judge: a GGUF model (`llm:gguf:<name>`: the catalog's or the models
folder's) run in this process by llama.cpp, its answer constrained by a grammar compiled
from the rubric's verdict schema (`shared.llm_judging.grammar_schema`).

The model is loaded on the first question of a judging and dropped when the judging ends,
so it never stays in memory beside the collector's next candidate model.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.errors import UnknownModel
from shared.llm_judging import grammar_schema
from shared.model_names import gguf_file

# Only a guard: the grammar already bounds the answer well below it.
ANSWER_TOKENS = 1024
# The judge's chat (rubric + scenario + answer) and its verdict fit with room to spare.
CONTEXT_TOKENS = 4096


class EmbeddedJudge:
    """A Chat that runs catalog GGUF judges in-process: one model at a time, loaded on first
    use, dropped by `release`. Thread-safe: the bridge's threads share one model."""

    def __init__(self, *, n_threads: int | None = None, gguf_dir: str = "") -> None:
        self._n_threads = n_threads  # None: llama.cpp's default, half the cores
        self._gguf_dir = gguf_dir  # the models folder beside the catalog
        self._lock = threading.Lock()
        self._loaded: tuple[str, Any] | None = None

    def __call__(self, model: str, messages: list[dict[str, str]], schema: dict[str, Any]) -> str:
        """The model's answer, decoded under the schema's grammar at temperature 0."""
        with self._lock:
            response = self._llama(model).create_chat_completion(
                messages=messages,
                temperature=0.0,
                max_tokens=ANSWER_TOKENS,
                response_format={"type": "json_object", "schema": grammar_schema(schema)},
            )
        return str(response["choices"][0]["message"]["content"] or "")

    @property
    def loaded(self) -> str | None:
        """The catalog name of the model in memory, if any."""
        return self._loaded[0] if self._loaded else None

    def release(self) -> None:
        """Drop the model, freeing its memory; the next question loads it again."""
        with self._lock:
            if self._loaded is not None:
                self._loaded[1].close()
                self._loaded = None

    def _llama(self, model: str) -> Any:
        if self._loaded is not None and self._loaded[0] == model:
            return self._loaded[1]
        if self._loaded is not None:
            self._loaded[1].close()
            self._loaded = None
        path = gguf_file(model, self._gguf_dir)
        from llama_cpp import Llama  # imported here: only the embedded judge needs it

        try:
            llm = Llama(
                model_path=str(path),
                n_ctx=CONTEXT_TOKENS,
                n_threads=self._n_threads,
                verbose=False,
            )
        except ValueError as exc:  # llama.cpp could not read the file
            raise UnknownModel(f"embedded judge gguf:{model}: {path} did not load: {exc}") from exc
        self._loaded = (model, llm)
        return llm
