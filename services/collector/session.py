"""The model session: at most one candidate model resident, and the size guard.

A provider that serves parallel requests for one model (Ollama with OLLAMA_NUM_PARALLEL,
vLLM, llama-server's slots) may get up to its `slots` generations at once, all of the
resident model; a generation of another model waits until they are done, then replaces
the model. With one slot (the default, and always for the embedded provider) generations
run one at a time, as they always did.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from services.collector.providers import ModelInfo, ModelProvider
from shared.errors import UnknownModel
from shared.model_names import ModelRef, check_size, parse_model

# ModelInfo.details key saying where params_b came from when not from the provider.
SIZE_SOURCE = "params_b_source"


@dataclass
class Resident:
    """The model currently loaded, with what its provider said about it."""

    ref: ModelRef
    info: ModelInfo


class ModelSession:
    """Loads models one at a time: the previous model is unloaded before the next loads."""

    def __init__(
        self, providers: dict[str, ModelProvider], slots: dict[str, int] | None = None
    ) -> None:
        self._providers = providers
        self._slots = slots or {}  # provider -> generations at once (default 1)
        self._resident: Resident | None = None
        self._busy = 0  # generations of the resident model under way
        self._changed = threading.Condition()
        self.loads = 0

    @contextmanager
    def generating(
        self,
        model: str,
        *,
        max_model_b: float,
        allow_unknown_size: bool,
        declared_b: float | None = None,
    ) -> Iterator[Resident]:
        """Hold `model` resident for one generation, beside at most slots - 1 others of the
        same model; another model's generation waits for them to end."""
        ref = parse_model(model)
        slots = self._slots.get(ref.provider, 1)
        with self._changed:
            while self._busy and (self._resident is None or self._resident.ref != ref):
                self._changed.wait()
            while self._busy >= slots:
                self._changed.wait()
            resident = self.use(
                model,
                max_model_b=max_model_b,
                allow_unknown_size=allow_unknown_size,
                declared_b=declared_b,
            )
            self._busy += 1
        try:
            yield resident
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()

    def release_if_idle(self) -> None:
        """Unload the resident model unless a generation is using it."""
        with self._changed:
            if not self._busy:
                self.release()

    def provider(self, ref: ModelRef) -> ModelProvider:
        """The provider of a parsed model name."""
        try:
            return self._providers[ref.provider]
        except KeyError:
            raise UnknownModel(f"no provider {ref.provider!r} configured for {ref.raw}") from None

    def use(
        self,
        model: str,
        *,
        max_model_b: float,
        allow_unknown_size: bool,
        declared_b: float | None = None,
    ) -> Resident:
        """Make `model` the resident model, refusing it if it is too large or of unknown size.

        `declared_b`, a size the request declared, stands in for a size the provider does
        not report (and is checked the same way); a reported size always wins."""
        ref = parse_model(model)
        if self._resident and self._resident.ref == ref:
            info = self._resident.info
            if info.details.get(SIZE_SOURCE) == "declared":
                # each cell carries its own request's declaration, or none
                self._resident = Resident(ref=ref, info=replace(info, params_b=declared_b))
            self._check_size(self._resident, max_model_b, allow_unknown_size)
            return self._resident
        provider = self.provider(ref)
        info = provider.describe(ref.name)
        if info.params_b is None and declared_b is not None:
            info = replace(
                info, params_b=declared_b, details=info.details | {SIZE_SOURCE: "declared"}
            )
        candidate = Resident(ref=ref, info=info)
        self._check_size(candidate, max_model_b, allow_unknown_size)
        self.release()
        provider.load(ref.name)
        self.loads += 1
        self._resident = candidate
        return candidate

    def resident_model(self) -> str | None:
        """The name of the resident model, if any."""
        return self._resident.ref.raw if self._resident else None

    def release(self) -> None:
        """Unload the resident model, if any."""
        if self._resident is None:
            return
        resident, self._resident = self._resident, None
        try:
            self.provider(resident.ref).unload(resident.ref.name)
        except UnknownModel:
            pass  # the server no longer has it: nothing is resident

    @staticmethod
    def _check_size(resident: Resident, max_model_b: float, allow_unknown_size: bool) -> None:
        check_size(resident.ref.raw, resident.info.params_b, max_model_b, allow_unknown_size)
