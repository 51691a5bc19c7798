"""The model session: at most one candidate model resident, and the size guard."""

from __future__ import annotations

from dataclasses import dataclass

from services.collector.providers import ModelInfo, ModelProvider
from shared.errors import UnknownModel
from shared.model_names import ModelRef, check_size, parse_model


@dataclass
class Resident:
    """The model currently loaded, with what its provider said about it."""

    ref: ModelRef
    info: ModelInfo


class ModelSession:
    """Loads models one at a time: the previous model is unloaded before the next loads."""

    def __init__(self, providers: dict[str, ModelProvider]) -> None:
        self._providers = providers
        self._resident: Resident | None = None
        self.loads = 0

    def provider(self, ref: ModelRef) -> ModelProvider:
        """The provider of a parsed model name."""
        try:
            return self._providers[ref.provider]
        except KeyError:
            raise UnknownModel(f"no provider {ref.provider!r} configured for {ref.raw}") from None

    def use(self, model: str, *, max_model_b: float, allow_unknown_size: bool) -> Resident:
        """Make `model` the resident model, refusing it if it is too large or of unknown size."""
        ref = parse_model(model)
        if self._resident and self._resident.ref == ref:
            self._check_size(self._resident, max_model_b, allow_unknown_size)
            return self._resident
        provider = self.provider(ref)
        info = provider.describe(ref.name)
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
