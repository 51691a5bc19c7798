"""The pairwise protocol: a blind packet of pairs of answers, and a judge's verdicts.

A pair shows two answers to the same scenario from two different rows (model, prompt),
sides shuffled, never the model, the prompt version or the run. The pair -> runs mapping
stays on the server.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.base import Record, Request
from shared.contracts.packets import PacketScenario
from shared.contracts.requests import JudgeFile

PAIR_PACKET_SCHEMA: Literal["tipbench.pair-packet/1"] = "tipbench.pair-packet/1"
Winner = Literal["a", "b", "tie"]


class PairAnswer(Record):
    """One side of a pair: the answer and the tips parsed from it."""

    answer: str = Field(description="The candidate's full answer.")
    tips: list[str] = Field(description="The tips tipbench parsed from the answer.")


class PairItem(Record):
    """Two blind answers to one scenario."""

    pair_id: str = Field(description="Opaque id; quote it in the verdict file.")
    scenario: PacketScenario = Field(description="Who and when, as both answers saw it.")
    a: PairAnswer = Field(description="Side a.")
    b: PairAnswer = Field(description="Side b.")


class PairPacket(Record):
    """A self-describing, blind set of pairs for one judge."""

    schema_version: Literal["tipbench.pair-packet/1"] = Field(description="Packet format.")
    packet_id: str = Field(description="Quote it in the verdict file.")
    experiment: str = Field(description="Experiment name.")
    judge_id: str = Field(description="The judge it was made for.")
    rubric: dict[str, Any] = Field(description="The rubric, as guidance for what is better.")
    instructions: str = Field(description="How to judge.")
    score_file_example: dict[str, Any] = Field(description="The shape of the answer.")
    pairs: list[PairItem] = Field(description="The pairs, in shuffled order.")


class PairJudgment(Request):
    """A judge's verdict on one pair."""

    pair_id: str = Field(min_length=1, max_length=64, description="Opaque pair id.")
    winner: Winner = Field(description="The better side: a, b, or tie.")
    rationale: str = Field("", max_length=2000, description="Why, in a sentence or two.")


class PairScoreFile(JudgeFile):
    """A judge's verdicts on one pair packet."""

    judgments: list[PairJudgment] = Field(
        min_length=1, max_length=10000, description="One verdict per pair."
    )
