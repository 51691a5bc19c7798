"""Named failures. Transient ones are retried by the queue; permanent ones are recorded."""

from __future__ import annotations

from typing import Any


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


class InvalidVerdict(PermanentError):
    """Raised when an LLM judge's answers stay outside the rubric's verdict schema after
    every attempt; the item is a judge failure, never a zero."""


class UnknownModel(PermanentError):
    """Raised when a model name names no provider or the provider does not have it."""


class ModelTooLarge(PermanentError):
    """Raised when a model has more parameters than the request's max_model_b."""


class ModelSizeUnknown(PermanentError):
    """Raised when a model's size cannot be determined and unknown sizes are not allowed."""


class NotFound(TipbenchError):
    """Raised when a request names something that does not exist (or not yet)."""


class JobNotFound(NotFound):
    """Raised when a job id names no job record."""


class PacketNotFound(NotFound):
    """Raised when an experiment has no judge packet yet, or a packet id is unknown."""


class ExperimentNotFound(NotFound):
    """Raised when an experiment name names no tip-bench experiment."""


class RunNotFound(NotFound):
    """Raised when a run id names no MLflow run."""


class LeaderboardNotFound(NotFound):
    """Raised when an experiment has no stored leaderboard (for that view) yet."""


class LeaderboardRebuilding(TipbenchError):
    """Raised when an experiment's stored leaderboard no longer matches today's contract
    (stored before an upgrade): it is not answered; a full rebuild replaces it."""

    retry_after = 5  # seconds: a rebuild from MLflow takes a few

    def __init__(self, experiment: str, view: str) -> None:
        super().__init__(
            f"the leaderboard of {experiment!r} ({view}) was stored by an older version and is"
            " being rebuilt; ask again in a few seconds"
        )


class ReportNotFound(NotFound):
    """Raised when an experiment has no report yet (the reporter writes one per rebuild)."""


class SubmissionNotFound(NotFound):
    """Raised when a score submission id is unknown in the experiment named."""


class NothingToJudge(NotFound):
    """Raised when an experiment has no candidates for a judge to score yet."""

    def __init__(self, experiment: str) -> None:
        super().__init__(f"experiment {experiment!r} has no candidates to judge yet")


class NoPairsLeft(NotFound):
    """Raised when a judge has judged every pair an experiment's rows can make (or its
    rows make none): an empty pair packet would be stored for nothing."""

    def __init__(self, experiment: str, judge_id: str) -> None:
        super().__init__(
            f"no pair left for {judge_id} in {experiment!r}: every pair of two rows on a"
            " shared scenario is judged (or fewer than two rows share a scenario)"
        )


class QueueNotFound(NotFound):
    """Raised when a queue name names none of the queues."""


class Conflict(TipbenchError):
    """Raised when a request conflicts with the state of what it names; carries each problem
    as {field, message}."""

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class JobEnded(Conflict):
    """Raised when a job that has already ended is asked to stop."""


class InvalidRequest(TipbenchError):
    """Raised when a request is refused as sent; carries each problem as {field, message}."""

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class TooManyCells(InvalidRequest):
    """Raised when a bench request makes more cells than one job may have."""


class ModelRefused(InvalidRequest):
    """Raised when a bench request names models the size guard refuses (missing, too large)."""


class InvalidExperimentName(InvalidRequest):
    """Raised when an experiment name in a path does not match the experiment pattern."""


class InvalidJudgeId(InvalidRequest):
    """Raised when a judge id (or leaderboard view) does not match the judge id pattern."""


class InvalidFormat(InvalidRequest):
    """Raised when an answer is asked for in a format the route does not give."""


class InvalidScores(InvalidRequest):
    """Raised when a score file does not match its packet; carries every problem found."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        shown = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"{len(problems)} problem(s) in the score file: {shown}{more}", problems)


class SuiteInvalid(InvalidRequest):
    """Raised when a suite file is refused; carries every problem with its place (and line)."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        def shown(p: dict[str, Any]) -> str:
            line = f" (line {p['line']})" if p.get("line") else ""
            return f"{p['field']}{line}: {p['message']}"

        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        summary = "; ".join(shown(p) for p in problems[:3])
        super().__init__(f"{len(problems)} problem(s) in the suite: {summary}{more}", problems)
        self.lines = [shown(p) for p in problems]


class SuiteNotFound(NotFound):
    """Raised when a suite name or version names no stored or built-in suite."""


class SuiteReserved(Conflict):
    """Raised when a pushed suite takes the name of a built-in suite."""


class SuiteMismatch(Conflict):
    """Raised when a bench request's suite version differs from its experiment's."""


class RowNotFound(NotFound):
    """Raised when a `model|prompt` row reference names no row of an experiment's leaderboard."""


class RubricMismatch(Conflict):
    """Raised when two experiments compared score by different rubrics."""
