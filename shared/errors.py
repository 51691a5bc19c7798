"""Named failures. Transient ones are retried by the queue; permanent ones are recorded."""

from __future__ import annotations


class TipbenchError(Exception):
    """Raised for any tipbench failure; the base of all below."""


class TransientError(TipbenchError):
    """Raised when a retry may succeed (a service unreachable, a timeout, a 5xx)."""


class PermanentError(TipbenchError):
    """Raised when retrying cannot help; the cell or request is refused with the reason."""


class ProviderUnavailable(TransientError):
    """Raised when the model provider cannot be reached or times out."""


class ProviderBadResponse(TransientError):
    """Raised when the provider answers with an error status or a malformed body."""


class UnknownModel(PermanentError):
    """Raised when a model name names no provider or the provider does not have it."""


class ModelTooLarge(PermanentError):
    """Raised when a model has more parameters than the request's max_model_b."""


class ModelSizeUnknown(PermanentError):
    """Raised when a model's size cannot be determined and unknown sizes are not allowed."""


class JobNotFound(TipbenchError):
    """Raised when a job id names no job record."""


class PacketNotFound(TipbenchError):
    """Raised when an experiment has no judge packet yet, or a packet id is unknown."""


class InvalidScores(TipbenchError):
    """Raised when a score file does not match its packet; carries every problem found."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        shown = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"{len(problems)} problem(s) in the score file: {shown}{more}")
        self.problems = problems
