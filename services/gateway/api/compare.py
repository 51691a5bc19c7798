"""GET /api/bench/compare: two experiments' rows, paired on their shared scenarios."""

from __future__ import annotations

from flask import Response, jsonify, request

from services.gateway.api.results import stored_leaderboard
from services.gateway.checks import experiment_name, is_leaderboard_view
from services.gateway.openapi import Query, documented
from shared.compare import compare_boards, parse_row
from shared.contracts import EXPERIMENT_PATTERN, PRIMARY, Comparison, Leaderboard
from shared.errors import InvalidJudgeId, InvalidRequest, LeaderboardNotFound

ROW = {"type": "string", "minLength": 3, "maxLength": 400}


def stored_board(name: str, view: str = PRIMARY) -> Leaderboard:
    """An experiment's leaderboard (primary, panel or one judge's); LeaderboardNotFound
    until a rebuild stored one."""
    board = stored_leaderboard(experiment_name(name), view)
    if board is None:
        raise LeaderboardNotFound(f"no leaderboard for {name!r} ({view}) yet: is it judged?")
    return board


def comparison(
    a: str, b: str, row_a: str | None, row_b: str | None, view: str = PRIMARY
) -> Comparison:
    """The comparison of experiment a's rows with b's (the pair named, or matching rows),
    both scored by the same view's judges."""
    return compare_boards(
        stored_board(a, view),
        stored_board(b, view),
        parse_row(row_a, "row_a") if row_a else None,
        parse_row(row_b, "row_b") if row_b else None,
    )


@documented(
    summary="Rows of experiment a minus rows of experiment b, paired on shared scenarios.",
    response=Comparison,
    errors=(404, 409, 422),
    query=(
        Query("a", {"type": "string", "pattern": EXPERIMENT_PATTERN}, "Experiment a.", True),
        Query("b", {"type": "string", "pattern": EXPERIMENT_PATTERN}, "Experiment b.", True),
        Query("row_a", ROW, "Row of a, `model|prompt`; default: rows matched by name."),
        Query("row_b", ROW, "Row of b, `model|prompt`; default: the same as row_a."),
        Query(
            "judge",
            {"type": "string", "maxLength": 64},
            "Whose scores: primary (default), panel or a judge id — the same for both.",
        ),
    ),
)
def compare() -> Response:
    """Each row's mean difference, its 95% interval and p (docs/statistics.md)."""
    missing = [name for name in ("a", "b") if not request.args.get(name)]
    if missing:
        raise InvalidRequest(
            f"name both experiments: ?a=<experiment>&b=<experiment> ({' and '.join(missing)}"
            " missing)",
            [{"field": name, "message": "required"} for name in missing],
        )
    args = request.args
    view = args.get("judge", PRIMARY)
    if not is_leaderboard_view(view):
        raise InvalidJudgeId(f"judge {view!r} must be primary, panel or a judge id")
    found = comparison(args["a"], args["b"], args.get("row_a"), args.get("row_b"), view)
    return jsonify(found.model_dump())
