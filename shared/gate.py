"""The CI gate of a run file: its conditions, their checks, and their evaluation.

A run file's `gate:` key holds thresholds on the experiment's judged leaderboard and its
job; `tipbench run -c FILE --gate` waits for the judge, then holds the gate when every
condition passes (docs/ci.md, docs/suites.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from shared.base import Request
from shared.compare import find_row, parse_row, row_name
from shared.contracts import Leaderboard, LeaderboardRow, RowDifference
from shared.errors import InvalidRequest
from shared.suite_files import Path, place

GATE_KEY = "gate"  # the run file's key; not a field of the bench request


def checked_row(value: str) -> str:
    """A `model|prompt` reference; ValueError (for pydantic) saying how to write one."""
    try:
        return row_name(*parse_row(value, "row"))  # spaces around `|` dropped
    except InvalidRequest as exc:
        raise ValueError(str(exc).removeprefix("row: ")) from None


class MinComposite(Request):
    """The lowest composite a row may have, on its interval's lower bound or on its mean."""

    value: float = Field(ge=0, description="The threshold, in composite points.")
    on: Literal["ci_low", "mean"] = Field(
        "ci_low",
        description="ci_low (default): the 95% interval's lower bound must reach it, so"
        " chance alone does not pass; mean: the mean must.",
    )


class MustBeat(Request):
    """A row the gated rows must beat: paired on shared scenarios, significantly, by `by`."""

    row: str = Field(description="The row to beat, `model|prompt`.")
    by: float = Field(0.0, ge=0, description="The mean difference needed, composite points.")

    @field_validator("row")
    @classmethod
    def _is_row(cls, value: str) -> str:
        return checked_row(value)


class Gate(Request):
    """A run file's `gate:`: every condition given must hold for the gate to pass."""

    row: str | None = Field(
        None,
        description="The row the conditions are about, `model|prompt`; default: every row"
        " (must_beat: every row but the one to beat).",
    )
    min_composite: MinComposite | None = Field(None, description="See MinComposite.")
    max_overlong_rate: float | None = Field(
        None, ge=0, le=1, description="Highest share of runs with an automatic overlong tip."
    )
    min_format_ok_rate: float | None = Field(
        None, ge=0, le=1, description="Lowest share of runs passing the automatic format check."
    )
    must_beat: MustBeat | None = Field(None, description="See MustBeat.")
    max_failed_cells: int | None = Field(None, ge=0, description="Most failed cells allowed.")

    @field_validator("row")
    @classmethod
    def _is_row(cls, value: str | None) -> str | None:
        return value if value is None else checked_row(value)

    @model_validator(mode="after")
    def _not_itself(self) -> Gate:
        if self.row and self.must_beat and self.must_beat.row == self.row:
            raise ValueError(
                f"must_beat.row is the gate's own row {self.row}: a row cannot beat itself"
            )
        return self

    def gated_rows(self, board: Leaderboard) -> list[LeaderboardRow]:
        """The rows the conditions are about (every row when `row` is not set); RowNotFound
        when the board lacks the gate's row (a run file leaving `prompts` to the suite)."""
        if self.row is None:
            return list(board.rows)
        return [find_row(board, parse_row(self.row, "gate.row"), "gate.row")]


def gate_problems(raw: Any, lines: Mapping[Path, int], key: str = GATE_KEY) -> list[dict[str, Any]]:
    """Every problem of a run file's gate as {field, line, message}; none when it is valid."""
    if not isinstance(raw, dict):
        return [{"field": key, "line": lines.get((key,)), "message": "must be a mapping"}]
    try:
        Gate.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            path: Path = (key, *(p for p in error["loc"] if isinstance(p, str | int)))
            line = next(
                (lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in lines), None
            )
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown key; known: {', '.join(_known(path))}"
            problems.append({"field": place(path), "line": line, "message": message})
        return problems
    return []


def _known(path: Path) -> list[str]:
    """The keys the model at the parent of `path` knows (for "unknown key")."""
    model: Any = Gate
    for part in path[1:-1]:
        model = {"min_composite": MinComposite, "must_beat": MustBeat}.get(str(part), model)
    return list(model.model_fields)


def rows_named(gate: Gate) -> list[tuple[str, str]]:
    """Every (model, prompt) the gate names, to check against what the run will make."""
    named = [gate.row] if gate.row else []
    if gate.must_beat:
        named.append(gate.must_beat.row)
    return [parse_row(r, "gate") for r in named]


@dataclass(frozen=True)
class Check:
    """One condition on one row (or on the job): what was found, the threshold, the verdict."""

    condition: str
    subject: str
    value: str
    threshold: str
    passed: bool
    detail: str = ""

    def line(self) -> str:
        """`PASS condition subject: value vs threshold (detail)` as the CLI prints it."""
        detail = f" ({self.detail})" if self.detail else ""
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}  {self.condition} {self.subject}: {self.value} {self.threshold}{detail}"


def _f(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def evaluate(
    gate: Gate,
    board: Leaderboard,
    failed_cells: int,
    beats: Mapping[str, RowDifference],
) -> list[Check]:
    """Every condition of the gate checked; `beats` holds each gated row's comparison with
    must_beat's row (row a = the gated row), from `shared.compare`."""
    checks: list[Check] = []
    for row in gate.gated_rows(board):
        name = row_name(row.model, row.prompt_version)
        if gate.min_composite:
            on = gate.min_composite.on
            value = row.ci_low if on == "ci_low" else row.mean_composite
            checks.append(
                Check(
                    f"min_composite ({on})",
                    name,
                    _f(value),
                    f">= {_f(gate.min_composite.value)}",
                    value is not None and value >= gate.min_composite.value,
                    (row.insufficient_data or "") if value is None else "",
                )
            )
        if gate.max_overlong_rate is not None:
            checks.append(
                Check(
                    "max_overlong_rate",
                    name,
                    _f(row.overlong_rate),
                    f"<= {_f(gate.max_overlong_rate)}",
                    row.overlong_rate <= gate.max_overlong_rate,
                )
            )
        if gate.min_format_ok_rate is not None:
            checks.append(
                Check(
                    "min_format_ok_rate",
                    name,
                    _f(row.format_ok_rate),
                    f">= {_f(gate.min_format_ok_rate)}",
                    row.format_ok_rate >= gate.min_format_ok_rate,
                )
            )
        if gate.must_beat and name != gate.must_beat.row:
            checks.append(_beat(gate.must_beat, name, beats[name]))
    if gate.max_failed_cells is not None:
        checks.append(
            Check(
                "max_failed_cells",
                "job",
                str(failed_cells),
                f"<= {gate.max_failed_cells}",
                failed_cells <= gate.max_failed_cells,
            )
        )
    return checks


def _beat(must: MustBeat, name: str, diff: RowDifference) -> Check:
    """Passes when the row is ahead, significantly (p <= 0.05), by at least `by` on average."""
    ahead = diff.mean_diff is not None and diff.mean_diff > 0
    passed = ahead and diff.significant and (diff.mean_diff or 0.0) >= must.by
    detail = f"p {diff.p_shown}, {diff.n_shared} shared scenarios" if diff.p is not None else ""
    if diff.ci_low is not None and diff.ci_high is not None:
        detail = f"95% CI {_f(diff.ci_low)}..{_f(diff.ci_high)}, {detail}"
    if not diff.significant and diff.p is not None:
        detail += ", not significant"
    return Check(
        "must_beat",
        f"{name} - {must.row}",
        "none" if diff.mean_diff is None else f"{diff.mean_diff:+.2f}",
        f">= {_f(must.by)}",
        passed,
        "; ".join(x for x in (detail, diff.note or "") if x),
    )
