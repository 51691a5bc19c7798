"""The leaderboard as the API, the CLI and MLflow show it, and its CSV form."""

from __future__ import annotations

import csv
import io

from pydantic import Field

from shared.base import Record


class LeaderboardRow(Record):
    """One (model, prompt version) pair's aggregate (see docs/statistics.md)."""

    rank: int | None = Field(
        description="1 + the rows significantly better than this one (paired max-T permutation"
        " test over the shared scenarios); null while unscored or with too few scenarios."
    )
    rank_ci: list[int] | None = Field(
        description="[best, worst] rank this row can have, for all rows jointly at 95%."
    )
    bootstrap_rank_ci: list[int] | None = Field(
        description="Descriptive: the 95% range of the row's rank by mean over bootstrap"
        " resamples of the scenarios."
    )
    tied_with_best: bool | None = Field(
        description="True when no row is significantly better (rank 1)."
    )
    insufficient_data: str | None = Field(
        description="Why the row has no interval and no rank (too few scored scenarios)."
    )
    model: str = Field(description="Model name.")
    prompt_version: str = Field(description="Prompt version (or a fixed registry prompt URI).")
    n: int = Field(description="Finished runs (candidates), repeats included.")
    n_scored: int = Field(description="Runs with a judge's score.")
    n_scenarios: int = Field(description="Scenarios with a scored run.")
    awaiting_judge: bool = Field(description="True while no run of the row is scored.")
    mean_composite: float | None = Field(
        description="Mean composite: repeats averaged within a scenario, scenarios weighing the"
        " same."
    )
    ci_low: float | None = Field(
        description="95% interval of the mean (Student-t with Hall's skewness correction)."
    )
    ci_high: float | None = Field(description="Upper bound of that interval.")
    diff_to_best: float | None = Field(
        description="This row's mean minus the best row's, on the scenarios both have."
    )
    diff_low: float | None = Field(
        description="Simultaneous 95% interval of that difference (it excludes 0 exactly when"
        " the best row is significantly better); null when the design cannot separate rows."
    )
    diff_high: float | None = Field(description="Upper bound of that interval.")
    n_shared_with_best: int | None = Field(description="Scenarios shared with the best row.")
    p_adjusted: float | None = Field(
        description="Adjusted p of 'the best row beats this one' (max-T permutation, the"
        " leader re-chosen in every permutation); never 0."
    )
    p_shown: str = Field(description="p_adjusted for display: `0.031`, `<1e-4`, or empty.")
    within_sd: float | None = Field(
        description="Spread of repeats within a scenario (null without repeats)."
    )
    between_sd: float | None = Field(description="Spread of the per-scenario means.")
    scenario_means: dict[str, float] = Field(
        default_factory=dict,
        description="Mean composite per scored scenario (repeats averaged): what rows of two"
        " experiments are compared on (GET /api/bench/compare). Empty on boards built before.",
    )
    item_means: dict[str, float | None] = Field(
        description="Mean of each rubric item and flag over the scored scenarios (each"
        " scenario weighing the same)."
    )
    format_ok_rate: float = Field(description="Share of runs passing the automatic format check.")
    overlong_rate: float = Field(description="Share of runs with an automatic overlong tip.")
    mean_latency_s: float | None = Field(description="Mean generation wall time, seconds.")
    mean_load_s: float | None = Field(description="Mean model load time, seconds.")
    mean_tokens_per_s: float | None = Field(description="Mean generation speed.")


class Marginal(Record):
    """A model's (or a prompt's) mean of its rows' means over the scenarios all rows share."""

    name: str = Field(description="Model or prompt version.")
    rows: int = Field(description="Its rows that take part.")
    n_scenarios: int = Field(description="The common scenarios the means are taken over.")
    mean_composite: float | None = Field(description="Mean of its rows' means.")
    ci_low: float | None = Field(description="95% interval, as for rows.")
    ci_high: float | None = Field(description="Upper bound.")
    rank: int | None = Field(description="Rank among the groups, as for rows.")
    tied_with_best: bool | None = Field(description="No group is significantly better.")
    insufficient_data: str | None = Field(description="Why there is no interval or rank.")


class GroupWinner(Record):
    """The best (model, prompt) for one value of a facet (a persona, a time slot...)."""

    group: str = Field(description="The facet's value.")
    model: str | None = Field(description="The clear winner's model; null if none is clear.")
    prompt_version: str | None = Field(description="The clear winner's prompt.")
    leader: str | None = Field(description="`model | prompt` with the highest mean there.")
    mean_composite: float | None = Field(description="The leader's mean there.")
    tied: list[str] = Field(description="Rows not separated from the leader there.")
    n_scenarios: int = Field(description="Scenarios with this value.")
    note: str | None = Field(description="Why there is no clear winner, if there is none.")
    scores: dict[str, float] = Field(description="Every row's mean there, `model | prompt`.")


class Estimate(Record):
    """An agreement statistic with its 95% bootstrap interval over runs and its n."""

    value: float | None = Field(description="The statistic; null when undefined (no spread).")
    ci_low: float | None = Field(description="BCa 95% interval over the runs.")
    ci_high: float | None = Field(description="Upper bound.")
    n: int = Field(description="Runs it is computed on.")


class JudgePair(Record):
    """How far two judges agree on the runs both scored."""

    judge_a: str = Field(description="A judge.")
    judge_b: str = Field(description="Another judge.")
    n_shared: int = Field(description="Runs both scored.")
    kappa: dict[str, Estimate] = Field(
        description="Quadratic-weighted Cohen's kappa per item (and composite), with intervals."
    )
    exact: dict[str, float | None] = Field(description="Share of runs given the same score.")
    adjacent: dict[str, float | None] = Field(
        description="Share of runs at most one score apart (kappa misleads when a judge is"
        " nearly constant)."
    )


class Disagreement(Record):
    """A run on which judges are 2 or more points apart on one dimension."""

    run_id: str = Field(description="The run.")
    item: str = Field(description="The dimension.")
    scores: dict[str, int] = Field(description="Judge -> score.")


class Agreement(Record):
    """The judge panel's agreement."""

    judges: list[str] = Field(description="Every judge who scored a run.")
    pairs: list[JudgePair] = Field(description="Every pair of judges.")
    alpha: dict[str, Estimate] = Field(
        description="Krippendorff's alpha (ordinal) across the panel, per item, with intervals."
    )
    disagreements: list[Disagreement] = Field(description="Runs judged 2+ points apart.")


PRIMARY, PANEL = "primary", "panel"


class PairwiseRow(Record):
    """One row's Bradley-Terry strength from pairwise verdicts (see docs/statistics.md)."""

    model: str = Field(description="Model name.")
    prompt_version: str = Field(description="Prompt version (or a fixed registry prompt URI).")
    strength: float = Field(
        description="Log Bradley-Terry strength, the rows' mean set to 0; a difference d means"
        " odds of exp(d) to 1 of being preferred."
    )
    ci_low: float = Field(description="95% bootstrap interval of the strength (pairs resampled).")
    ci_high: float = Field(description="Upper bound of that interval.")
    wins: int = Field(description="Pairs this row won.")
    losses: int = Field(description="Pairs this row lost.")
    ties: int = Field(description="Pairs judged a tie.")
    n_pairs: int = Field(description="Verdicts on pairs with this row.")


class Pairwise(Record):
    """The second ranking: Bradley-Terry on pairwise verdicts, beside the rubric's."""

    rows: list[PairwiseRow] = Field(description="Strongest first.")
    n_judgments: int = Field(description="Verdicts the fit used (every judge's).")
    judges: list[str] = Field(description="Who gave them.")
    kendall_tau: float | None = Field(
        description="Kendall's tau-b between this order and the rubric's mean composites, over"
        " rows in both; null with fewer than two such rows."
    )
    tau_n: int = Field(description="Rows the tau compares.")
    method: str = Field(description="How the strengths and intervals were computed.")


class Leaderboard(Record):
    """An experiment's ranking of (model, prompt) pairs."""

    experiment: str = Field(description="Experiment name.")
    view: str = Field(
        PRIMARY,
        description="Whose scores: primary (the first judge), panel (mean of all judges), or"
        " a judge id.",
    )
    version: int = Field(description="Rebuild number; a larger one is newer.")
    built_at: float = Field(description="When it was computed, Unix seconds.")
    n_runs: int = Field(description="Finished cell runs it was computed from.")
    run_ids: list[str] = Field(description="Those runs.")
    suite: str = Field(description="The suite version of the experiment, `name@version`.")
    rubric_id: str = Field(description="The rubric the composite follows.")
    score_names: list[str] = Field(description="The rubric's items, then its flags.")
    composite_min: float = Field(description="Lowest composite the rubric can give.")
    composite_max: float = Field(description="Highest composite the rubric can give.")
    min_scenarios: int = Field(description="Scored scenarios a row needs for an interval.")
    power_note: str | None = Field(
        description="Said when the design cannot show any difference at 5%."
    )
    rows: list[LeaderboardRow] = Field(description="Best first; rows awaiting a judge last.")
    by_model: list[Marginal] = Field(description="Models over all prompts.")
    by_prompt: list[Marginal] = Field(description="Prompts over all models.")
    by_facet: dict[str, list[GroupWinner]] = Field(
        description="Per facet the suite declares (tip-v1: persona, time_slot): which row wins"
        " for each of its values."
    )
    agreement: Agreement = Field(description="How far the judges agree.")
    pairwise: Pairwise | None = Field(
        None, description="The pairwise protocol's ranking; null without pairwise verdicts."
    )


def to_csv(board: Leaderboard) -> str:
    """The leaderboard's rows as CSV, one line per (model, prompt); a `mean_<item>` column
    per rubric item and flag."""
    nested = {"item_means", "scenario_means"}
    plain = [name for name in LeaderboardRow.model_fields if name not in nested]
    columns = plain + [f"mean_{name}" for name in board.score_names]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in board.rows:
        values = {
            k: "-".join(map(str, v)) if isinstance(v, list) else v
            for k, v in row.model_dump(exclude=nested).items()
        }
        writer.writerow(values | {f"mean_{k}": row.item_means.get(k) for k in board.score_names})
    return out.getvalue()
