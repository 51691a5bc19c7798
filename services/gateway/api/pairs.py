"""The pairwise judging routes: a judge's blind pair packet, and verdict submissions."""

from __future__ import annotations

import re

from flask import Response, jsonify, request

from services.gateway.api.body import json_body
from services.gateway.api.judging import queue_submission
from services.gateway.api.results import stored_leaderboard
from services.gateway.checks import experiment_name, judge_id, parse
from services.gateway.deps import deps
from services.gateway.openapi import Query, documented, judge_query
from shared.contracts import IngestPairScores, PairPacket, PairScoreFile, ScoresAccepted
from shared.errors import InvalidRequest, NothingToJudge
from shared.pair_judging import check_pair_scores, pair_packet_for_judge
from shared.pairing import MAX_PAIRS


def n_pairs_asked() -> int | None:
    """The `n_pairs` query parameter: None if absent, else an integer in 1..MAX_PAIRS."""
    raw = request.args.get("n_pairs")
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= MAX_PAIRS:
        message = f"n_pairs must be an integer from 1 to {MAX_PAIRS}, not {raw!r}"
        raise InvalidRequest(message, [{"field": "n_pairs", "message": message}])
    return int(raw)


@documented(
    summary="A judge's blind pair packet (pairwise protocol).",
    response=PairPacket,
    errors=(404,),
    query=(
        judge_query("The judge the packet is made for.", required=True),
        Query(
            "n_pairs",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAIRS},
            "Pairs in a new packet (default rows x scenarios, at most the maximum).",
        ),
    ),
)
def pair_packet(experiment: str) -> Response:
    """The judge's open pair packet, or a new one of pairs the judge has not judged."""
    name = experiment_name(experiment)
    asked = request.args.get("judge")
    if asked is None:
        message = "a pair packet is made for one judge: add ?judge=<judge id>"
        raise InvalidRequest(message, [{"field": "judge", "message": message}])
    judge = judge_id(asked)
    n_pairs = n_pairs_asked()
    if not deps().packets.candidates(name):
        raise NothingToJudge(name)
    board = stored_leaderboard(name)
    means = (
        {
            (row.model, row.prompt_version): row.mean_composite
            for row in board.rows
            if row.mean_composite is not None
        }
        if board is not None
        else None
    )
    packet = pair_packet_for_judge(
        deps().packets, deps().pairs, name, judge, n_pairs=n_pairs, means=means
    )
    return jsonify(packet.model_dump(mode="json"))


@documented(
    summary="Submit a judge's pairwise verdicts.",
    body=PairScoreFile,
    response=ScoresAccepted,
    status=202,
)
def post_pair_scores(experiment: str) -> tuple[Response, int]:
    """Check a verdict file against its pair packet and queue it for ingestion."""
    name = experiment_name(experiment)
    verdicts = parse(PairScoreFile, json_body())
    check_pair_scores(name, verdicts, deps().pairs)
    return queue_submission(name, verdicts, IngestPairScores, len(verdicts.judgments))
