"""Two experiments' rows compared, as GET /api/bench/compare, the CLI and the admin page
show them (computed by `shared/compare.py`)."""

from __future__ import annotations

from pydantic import Field

from shared.base import Record


class RowDifference(Record):
    """Row a minus row b, paired on the scenarios both have scores for."""

    row_a: str = Field(description="The row of experiment a, `model|prompt`.")
    row_b: str = Field(description="The row of experiment b, `model|prompt`.")
    n_shared: int = Field(description="Scored scenarios both rows have: the pairs compared.")
    mean_a: float | None = Field(description="Row a's mean composite over those scenarios.")
    mean_b: float | None = Field(description="Row b's mean composite over those scenarios.")
    mean_diff: float | None = Field(
        description="Mean of the per-scenario differences a - b (repeats averaged within a"
        " scenario first)."
    )
    ci_low: float | None = Field(
        description="95% interval of that mean (Student-t with Hall's skewness correction);"
        " null with fewer shared scenarios than min_scenarios."
    )
    ci_high: float | None = Field(description="Upper bound of that interval.")
    p: float | None = Field(
        description="Two-sided p of 'the rows differ': the paired sign-flip permutation test"
        " (exact for small designs); never 0."
    )
    p_shown: str = Field(description="p for display: `0.031`, `<1e-4`, or empty.")
    significant: bool = Field(description="p <= 0.05: the rows differ at the 5% level.")
    note: str | None = Field(
        description="Why there is no interval or p, or what the design cannot show."
    )


class Comparison(Record):
    """Rows of experiment a against rows of experiment b."""

    experiment_a: str = Field(description="Experiment a.")
    experiment_b: str = Field(description="Experiment b (may be a itself).")
    suite_a: str = Field(description="Experiment a's suite version, `name@version`.")
    suite_b: str = Field(description="Experiment b's suite version.")
    rubric_id: str = Field(description="The rubric both composites follow.")
    min_scenarios: int = Field(description="Shared scenarios a comparison needs.")
    rows: list[RowDifference] = Field(
        description="Rows matched by (model, prompt), or the one pair chosen."
    )
    only_in_a: list[str] = Field(description="Rows of a with no match in b (when matching).")
    only_in_b: list[str] = Field(description="Rows of b with no match in a (when matching).")
    note: str | None = Field(
        description="Said when the suites differ: scenarios are paired by id alone."
    )
