"""Embedded GGUF models run in-process with llama-cpp-python (no Ollama needed)."""

from __future__ import annotations

import hashlib
import time
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from services.collector.providers import (
    Generation,
    GenerationOptions,
    ModelInfo,
)
from shared.errors import ProviderBadResponse
from shared.model_names import gguf_file, parse_parameter_size

# llama.cpp's file_type codes for the quantizations tipbench is likely to meet.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    12: "Q3_K_M",
    15: "Q4_K_M",
    17: "Q5_K_M",
    18: "Q6_K",
}


@cache
def file_sha256(path: Path) -> str:
    """sha256 of a model file, computed once per process."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def gguf_params_b(meta: dict[str, str], n_params: int) -> float | None:
    """Billions of parameters: the size label the file declares, else the count of its
    weights (files converted without a label still have them)."""
    labelled = parse_parameter_size(meta.get("general.size_label", ""))
    return labelled if labelled is not None else (n_params / 1e9 if n_params > 0 else None)


def _read_header(path: Path) -> tuple[dict[str, str], int]:
    """A GGUF file's metadata and weight count, with its vocabulary only (no weights)."""
    from llama_cpp import Llama  # imported here: only the embedded path needs it

    header = Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        return dict(header.metadata), int(header._model.n_params())
    finally:
        header.close()


def _llama_cpp_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return "unknown"


class GgufProvider:
    """Runs GGUF models (the catalog's, the models folder's) with llama.cpp; holds at most
    one model at a time."""

    name = "gguf"

    def __init__(self, *, n_threads: int | None = None, gguf_dir: str = "") -> None:
        self._n_threads = n_threads
        self._gguf_dir = gguf_dir
        self._loaded: tuple[str, Any] | None = None

    def describe(self, model: str) -> ModelInfo:
        """Size and quantization from the GGUF metadata; digest = the file's sha256.

        Read from the file's header (no weights loaded, the loaded model untouched), so
        a file over the size limit is refused before it takes any memory."""
        path = gguf_file(model, self._gguf_dir)
        meta: dict[str, str]
        if self._loaded and self._loaded[0] == model:
            meta, n_params = dict(self._loaded[1].metadata), self._loaded[1]._model.n_params()
        else:
            meta, n_params = _read_header(path)
        params_b = gguf_params_b(meta, n_params)
        file_type = meta.get("general.file_type", "")
        quant = FILE_TYPES.get(int(file_type), file_type) if file_type.isdigit() else file_type
        return ModelInfo(
            params_b=params_b,
            digest=f"sha256:{file_sha256(path)}",
            quantization=quant,
            server_version=f"llama-cpp-python {_llama_cpp_version()}",
            details={
                "architecture": meta.get("general.architecture", ""),
                "file": str(path),
            },
        )

    def load(self, model: str) -> None:
        """Load the model's weights (and drop any other model)."""
        self._llama(model)

    def unload(self, model: str) -> None:
        """Free the model if it is the one loaded."""
        if self._loaded and self._loaded[0] == model:
            self._loaded[1].close()
            self._loaded = None

    def generate(
        self, model: str, messages: list[dict[str, str]], options: GenerationOptions
    ) -> Generation:
        """One chat completion; timings are measured around llama.cpp's calls."""
        started = time.perf_counter()
        llm = self._llama(model)
        load_s = time.perf_counter() - started
        begin = time.perf_counter()
        response = llm.create_chat_completion(
            messages=messages,
            temperature=options.temperature,
            seed=options.seed,
            max_tokens=options.num_predict,
        )
        generation_s = time.perf_counter() - begin
        try:
            text = response["choices"][0]["message"]["content"] or ""
            usage = response["usage"]
        except (KeyError, IndexError, TypeError) as exc:
            raise ProviderBadResponse(f"llama.cpp gave no message for {model}: {exc}") from exc
        return Generation(
            text=text,
            raw=dict(response),
            load_s=load_s,
            # llama.cpp does not split prompt evaluation from generation in its answer.
            prompt_eval_s=0.0,
            generation_s=generation_s,
            total_s=time.perf_counter() - started,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )

    def _llama(self, model: str) -> Any:
        if self._loaded and self._loaded[0] == model:
            return self._loaded[1]
        if self._loaded:
            self.unload(self._loaded[0])
        from llama_cpp import Llama  # imported here: only the embedded path needs it

        llm = Llama(
            model_path=str(gguf_file(model, self._gguf_dir)),
            n_ctx=4096,
            n_threads=self._n_threads,
            verbose=False,
        )
        self._loaded = (model, llm)
        return llm
