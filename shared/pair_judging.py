"""Pairwise judging: blind pair packets made for a judge, verdict files checked against them.

A pair packet is blind like a rubric packet: pairs carry an opaque id, the scenario and two
answers, never a model, a prompt version or a run; the pair -> runs mapping stays on the
server. Sides and order are shuffled with a generator seeded by the packet id.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Mapping
from typing import Any

from shared.contracts.pairs import (
    PAIR_PACKET_SCHEMA,
    PairAnswer,
    PairItem,
    PairPacket,
    PairScoreFile,
)
from shared.errors import InvalidScores, NoPairsLeft
from shared.judging import answered_id_problems, answered_packet, new_id
from shared.pairing import default_pairs, draw_pairs
from shared.rubric import Rubric
from shared.stores.packets import PacketStore
from shared.stores.pairs import PairStore

Row = tuple[str, str]  # (model, prompt version)


def pair_instructions(rubric: Rubric) -> str:
    """How to judge a pair, with the rubric as guidance."""
    return (
        "For each pair read the scenario (the context both answers were written for) and the"
        " two answers, a and b. Say which answer is better by the rubric's criteria"
        f" ({', '.join(rubric.item_ids)}): winner `a`, `b`, or `tie` when neither is better."
        " Add a one-sentence rationale. Return JSON shaped like `score_file_example`, with one"
        " entry per pair_id."
    )


def pair_file_example(packet_id: str, pair_id: str, judge_id: str) -> dict[str, Any]:
    """A one-pair example of the verdict file a judge returns."""
    verdict = {"pair_id": pair_id, "winner": "a", "rationale": "a's tips are concrete."}
    return {"packet_id": packet_id, "judge_id": judge_id, "judgments": [verdict]}


def pair_packet_for_judge(
    packets: PacketStore,
    pairs: PairStore,
    experiment: str,
    judge_id: str,
    *,
    n_pairs: int | None = None,
    means: Mapping[Row, float] | None = None,
) -> PairPacket:
    """The judge's open pair packet if it has pairs left to judge, else a fresh one of pairs
    the judge has not judged (`n_pairs`, default rows × scenarios, capped)."""
    found = pairs.open_packet(experiment, judge_id)
    if found is not None:
        return found
    pool = packets.candidates(experiment)
    runs = {
        run: ((model, prompt), scenario)
        for run, (model, prompt, scenario) in packets.rows(experiment).items()
        if run in pool
    }
    budget = n_pairs or default_pairs(
        len({row for row, _ in runs.values()}), len({s for _, s in runs.values()})
    )
    packet_id = new_id()
    # Never seeded by anything the judge sees (the packet id is in the packet): a judge
    # replaying the draw would learn which side holds which row.
    rng = random.SystemRandom()
    drawn = draw_pairs(
        runs,
        budget,
        seed=secrets.token_hex(16),
        done=pairs.judged_by(experiment, judge_id),
        means=means,
    )
    if not drawn:
        raise NoPairsLeft(experiment, judge_id)
    pair_runs: dict[str, tuple[str, str]] = {}
    items = []
    for first, second in drawn:
        run_a, run_b = (first, second) if rng.random() < 0.5 else (second, first)
        pair_id = new_id()
        pair_runs[pair_id] = (run_a, run_b)
        items.append(
            PairItem(
                pair_id=pair_id,
                scenario=pool[run_a].scenario,
                a=PairAnswer(answer=pool[run_a].answer, tips=pool[run_a].tips),
                b=PairAnswer(answer=pool[run_b].answer, tips=pool[run_b].tips),
            )
        )
    rng.shuffle(items)
    rubric = packets.rubric(experiment)
    packet = PairPacket(
        schema_version=PAIR_PACKET_SCHEMA,
        packet_id=packet_id,
        experiment=experiment,
        judge_id=judge_id,
        rubric=rubric.as_dict(),
        instructions=pair_instructions(rubric),
        score_file_example=pair_file_example(
            packet_id, items[0].pair_id if items else "pair-id", judge_id
        ),
        pairs=items,
    )
    pairs.save(packet, pair_runs)
    return packet


def check_pair_scores(
    experiment: str, verdicts: PairScoreFile, store: PairStore
) -> list[dict[str, Any]]:
    """Check a verdict file against its pair packet; InvalidScores lists every problem.

    Returns the verdicts as stored: the runs shown as a and b, the winner, who and why.
    """
    packet, problems = answered_packet(store.get, verdicts, experiment, "pair packet")
    runs = store.pair_runs(packet.packet_id)
    counts = Counter(v.pair_id for v in verdicts.judgments)
    for index, verdict in enumerate(verdicts.judgments):
        where = f"judgments[{index}].pair_id"
        problems += answered_id_problems(where, verdict.pair_id, runs, counts, "pair", "judged")
    if problems:
        raise InvalidScores(problems)
    return [
        {
            "judge_id": verdicts.judge_id,
            "judge_kind": verdicts.judge_kind,
            "packet_id": verdicts.packet_id,
            "pair_id": v.pair_id,
            "run_a": runs[v.pair_id][0],
            "run_b": runs[v.pair_id][1],
            "winner": v.winner,
            "rationale": v.rationale,
        }
        for v in verdicts.judgments
    ]
