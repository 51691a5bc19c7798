"""The judging routes: blind packets, LLM judges, failures, agreement, score submissions."""

from __future__ import annotations

import uuid

from flask import Response, jsonify, request, url_for

from services.gateway.api.body import json_body
from services.gateway.api.results import stored_leaderboard
from services.gateway.checks import experiment_name, judge_id, parse
from services.gateway.deps import deps
from services.gateway.openapi import documented, judge_query
from services.gateway.sizes import gguf_problems
from shared.contracts import (
    Agreement,
    IngestPairScores,
    IngestScores,
    JudgeFailureInfo,
    JudgePacket,
    LlmJudgeAccepted,
    LlmJudgeRequest,
    PairScoreFile,
    RunLlmJudge,
    ScoreFile,
    ScoresAccepted,
    SubmissionStatus,
)
from shared.errors import LeaderboardNotFound, ModelRefused, NothingToJudge, SubmissionNotFound
from shared.judging import check_scores, packet_for_judge
from shared.llm_judging import llm_judge_id
from shared.messaging import send
from shared.model_names import parse_model


@documented(
    summary="A blind judge packet.",
    response=JudgePacket,
    errors=(404,),
    query=(judge_query("Make a packet of this judge's unscored runs."),),
)
def judge_packet(experiment: str) -> Response:
    """A blind judge packet: ?judge=<id> for that judge's unscored runs, else the current one."""
    name = experiment_name(experiment)
    judge = request.args.get("judge")
    if judge is None:
        return jsonify(deps().packets.latest(name).model_dump(mode="json"))
    judge = judge_id(judge)
    if not deps().packets.candidates(name):
        raise NothingToJudge(name)
    packet, _ = packet_for_judge(deps().packets, deps().scores, name, judge)
    return jsonify(packet.model_dump(mode="json"))


@documented(
    summary="Let an LLM judge score the unscored runs.",
    body=LlmJudgeRequest,
    response=LlmJudgeAccepted,
    status=202,
    errors=(404,),
)
def run_llm_judge(experiment: str) -> tuple[Response, int]:
    """Let an LLM judge score the experiment's runs it has not scored yet (or, with
    `pairwise`, judge the pairs of its pair packet)."""
    name = experiment_name(experiment)
    judge = parse(LlmJudgeRequest, json_body())
    problems = gguf_problems([judge.model], "model", deps().settings.gguf_dir)
    if problems:
        raise ModelRefused(f"judge refused: {problems[0]['message']}", problems)
    if not deps().packets.candidates(name):
        raise NothingToJudge(name)
    send(deps().broker, RunLlmJudge(experiment=name, model=judge.model, pairwise=judge.pairwise))
    accepted = LlmJudgeAccepted(experiment=name, judge_id=llm_judge_id(parse_model(judge.model)))
    return jsonify(accepted.model_dump(mode="json")), 202


@documented(summary="Items a judge could not score.", response=list[JudgeFailureInfo])
def judge_failures(experiment: str) -> Response:
    """Items a judge could not score (after its retries), with why."""
    failures = deps().scores.failures(experiment_name(experiment))
    return jsonify([f.model_dump(mode="json") for f in failures])


@documented(summary="How far the judges agree.", response=Agreement, errors=(404,))
def judge_agreement(experiment: str) -> Response:
    """How far the judges agree (kappa per pair, alpha), from the stored leaderboard."""
    board = stored_leaderboard(experiment_name(experiment))
    if board is None:
        raise LeaderboardNotFound(f"no leaderboard for {experiment!r} yet")
    return jsonify(board.agreement.model_dump())


@documented(
    summary="Submit a judge's score file.", body=ScoreFile, response=ScoresAccepted, status=202
)
def post_scores(experiment: str) -> tuple[Response, int]:
    """Check a score file against its packet and queue it for ingestion."""
    name = experiment_name(experiment)
    scores = parse(ScoreFile, json_body())
    check_scores(name, scores, deps().packets)
    return queue_submission(name, scores, IngestScores, len(scores.scores))


def queue_submission(
    name: str,
    answer: ScoreFile | PairScoreFile,
    command: type[IngestScores | IngestPairScores],
    n_scores: int,
) -> tuple[Response, int]:
    """Keep a checked answer file and ask the judge bridge to ingest it; 202 with where to
    follow it."""
    submission_id = uuid.uuid4().hex
    deps().packets.save_submission(submission_id, name, answer)
    send(deps().broker, command(submission_id=submission_id, experiment=name))
    status_url = url_for("bench.submission_status", experiment=name, submission_id=submission_id)
    accepted = ScoresAccepted(submission_id=submission_id, status_url=status_url, n_scores=n_scores)
    return jsonify(accepted.model_dump(mode="json")), 202


@documented(
    summary="Whether a score submission was ingested.", response=SubmissionStatus, errors=(404,)
)
def submission_status(experiment: str, submission_id: str) -> Response:
    """Whether a score submission was ingested."""
    found = deps().packets.submission(submission_id)
    if found["experiment"] != experiment_name(experiment):
        raise SubmissionNotFound(f"no score submission {submission_id!r} in {experiment!r}")
    status = SubmissionStatus(
        submission_id=submission_id, status=found["status"], error=found.get("error") or None
    )
    return jsonify(status.model_dump(mode="json"))
