"""The model session: at most one candidate model resident, and the size guard.

A provider that serves parallel requests for one model (Ollama with OLLAMA_NUM_PARALLEL,
vLLM, llama-server's slots) may get up to its `slots` generations at once, all of the
resident model; a generation of another model waits until they are done, then replaces
the model. With one slot (the default, and always for the embedded provider) generations
run one at a time.

The collector runs one thread more than it has slots: that thread holds the next cell,
rendered and waiting its turn here, while the model generates the current one, so the next
generation starts as soon as the current one ends (generations still one at a time per
slot, one model resident). Its checks (`admit`) are made when its turn comes, before the
model is loaded: a cell of a job cancelled while it waited is never generated. A cell in
hand (`holding`) keeps its model from being unloaded between two generations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
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
        self._held: dict[str, str] = {}  # cell key -> its model, cells in hand (`holding`)
        self.loads = 0

    @contextmanager
    def holding(self, model: str, cell_key: str) -> Iterator[bool]:
        """Hold a cell of `model` in hand while its message is handled: the model is not
        unloaded meanwhile (release_if_idle). Yields False, holding nothing, if the same cell
        is in hand already (its message delivered twice): it must not be generated twice."""
        with self._changed:
            fresh = cell_key not in self._held
            if fresh:
                self._held[cell_key] = model
        try:
            yield fresh
        finally:
            if fresh:
                with self._changed:
                    del self._held[cell_key]

    def held(self, model: str) -> bool:
        """Whether a cell of `model` is in hand."""
        with self._changed:
            return model in self._held.values()

    @contextmanager
    def generating(
        self,
        model: str,
        *,
        max_model_b: float,
        allow_unknown_size: bool,
        declared_b: float | None = None,
        admit: Callable[[], None] | None = None,
    ) -> Iterator[Resident]:
        """Hold `model` resident for one generation, beside at most slots - 1 others of the
        same model; another model's generation waits for them to end.

        `admit`, called when the turn comes and before any load, may raise to give the
        generation up (the exception propagates; nothing is loaded, no slot is taken)."""
        ref = parse_model(model)
        slots = self._slots.get(ref.provider, 1)
        with self._changed:
            # one condition, checked again after every wake-up: a generation waiting for a
            # slot may find another model resident by then
            while self._busy and (
                self._resident is None or self._resident.ref != ref or self._busy >= slots
            ):
                self._changed.wait()
            if admit is not None:
                admit()
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
            # let a thread waiting its turn take the interpreter now: its request goes out
            # while this one parses and keeps the answer (else it waits for this thread's
            # first network call)
            time.sleep(0)

    def release_if_idle(self, model: str) -> None:
        """Unload `model` if it is the resident one, unless a generation is using it or a
        cell in hand waits for it (another thread may have loaded another meanwhile)."""
        with self._changed:
            resident = self.resident_model()
            if resident == model and not self._busy and model not in self._held.values():
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
        try:
            self.provider(self._resident.ref).unload(self._resident.ref.name)
        except UnknownModel:
            pass  # the server no longer has it: nothing is resident
        # Only now: an unload that failed leaves the model resident, to be unloaded again
        # before any other loads (a retry of the cell that asked for the other model).
        self._resident = None

    @staticmethod
    def _check_size(resident: Resident, max_model_b: float, allow_unknown_size: bool) -> None:
        check_size(resident.ref.raw, resident.info.params_b, max_model_b, allow_unknown_size)
