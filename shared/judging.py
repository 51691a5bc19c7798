"""Judging: blind packets assembled for a judge, score files checked against their packet.

A packet is blind: items carry an opaque id, the scenario and the tips, never the model,
the prompt version or the run. The item -> run mapping stays on the server.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Callable, Container
from typing import Any, TypeVar

from shared.contracts.packets import PACKET_SCHEMA, Candidate, JudgePacket, PacketItem
from shared.contracts.pairs import PairPacket
from shared.contracts.requests import JudgeFile, ScoreFile
from shared.errors import InvalidScores, PacketNotFound
from shared.rubric import Rubric
from shared.stores.packets import PacketStore
from shared.stores.scores import ScoreStore

P = TypeVar("P", JudgePacket, PairPacket)


def instructions(rubric: Rubric) -> str:
    """How to score, for the rubric's items and flags."""
    flags = f" and {', '.join(rubric.flag_ids)} as 0 or 1 using the flag questions" * bool(
        rubric.flags
    )
    return (
        "Score every item against the rubric. For each item read the scenario (the context "
        f"the answer was written for) and the answer. Give {', '.join(rubric.item_ids)} as "
        f"integers 1-5 using the level texts{flags}. Add a one-sentence rationale. Do not "
        "compute the composite: tipbench does. Return JSON shaped like `score_file_example`, "
        "with one entry per item_id."
    )


def new_id() -> str:
    """A fresh opaque id (12 hex characters)."""
    return secrets.token_hex(6)


def score_file_example(
    packet_id: str, item_id: str, judge_id: str, rubric: Rubric
) -> dict[str, Any]:
    """A one-item example of the score file a judge returns."""
    item = {"item_id": item_id, **rubric.example_scores(), "rationale": "Fits; one tip is vague."}
    return {"packet_id": packet_id, "judge_id": judge_id, "scores": [item]}


def assemble_packet(
    experiment: str, candidates: dict[str, Candidate], judge_id: str | None, rubric: Rubric
) -> tuple[JudgePacket, dict[str, str]]:
    """A blind packet of the candidates in a fresh random order; returns item -> run too."""
    packet_id = new_id()
    item_runs = {new_id(): run_id for run_id in candidates}
    items = [
        PacketItem(item_id=item_id, **candidates[run_id].model_dump())
        for item_id, run_id in item_runs.items()
    ]
    # Run order follows models and prompts; a fresh shuffle per packet hides it, and two
    # judges never see the same order.
    random.SystemRandom().shuffle(items)
    packet = JudgePacket(
        schema_version=PACKET_SCHEMA,
        packet_id=packet_id,
        experiment=experiment,
        judge_id=judge_id,
        rubric=rubric.as_dict(),
        instructions=instructions(rubric),
        score_file_example=score_file_example(
            packet_id, items[0].item_id if items else "item-id", judge_id or "your-name", rubric
        ),
        items=items,
    )
    return packet, item_runs


def packet_for_judge(
    packets: PacketStore, scores: ScoreStore, experiment: str, judge_id: str
) -> tuple[JudgePacket, dict[str, str]]:
    """A fresh packet, kept but not made current, of the pool's runs the judge has not scored."""
    pool = packets.candidates(experiment)
    done = scores.judged_by(experiment, judge_id)
    pending = {run: c for run, c in pool.items() if run not in done}
    packet, item_runs = assemble_packet(
        experiment, pending, judge_id=judge_id, rubric=packets.rubric(experiment)
    )
    packets.save(packet, item_runs, latest=False)
    return packet, item_runs


def packet_problems(
    packet: JudgePacket | PairPacket, answer: JudgeFile, experiment: str, what: str
) -> list[dict[str, str]]:
    """What is wrong in answering this packet: another judge's, or another experiment's."""
    problems = []
    if packet.judge_id is not None and packet.judge_id != answer.judge_id:
        problems.append(
            {
                "field": "judge_id",
                "message": f"{what} {packet.packet_id} was made for judge {packet.judge_id!r},"
                f" not {answer.judge_id!r}",
            }
        )
    if packet.experiment != experiment:
        problems.append(
            {
                "field": "packet_id",
                "message": f"{what} {packet.packet_id} belongs to experiment"
                f" {packet.experiment!r}, not {experiment!r}",
            }
        )
    return problems


def answered_packet(
    get: Callable[[str], P], answer: JudgeFile, experiment: str, what: str
) -> tuple[P, list[dict[str, str]]]:
    """The packet a score or verdict file answers (`get` reads it by id), and what is wrong
    in answering it (`packet_problems`); InvalidScores if there is no such packet."""
    try:
        packet = get(answer.packet_id)
    except PacketNotFound as exc:
        raise InvalidScores([{"field": "packet_id", "message": str(exc)}]) from None
    return packet, packet_problems(packet, answer, experiment, what)


def answered_id_problems(
    where: str, answered: str, known: Container[str], counts: Counter[str], noun: str, verb: str
) -> list[dict[str, str]]:
    """What is wrong with the id a file's entry answers (`where` names the field): not in
    the packet, or `verb` more than once (`counts`: how often the file answers each id)."""
    if answered not in known:
        return [{"field": where, "message": f"{noun} {answered!r} is not in the packet"}]
    if counts[answered] > 1:
        return [{"field": where, "message": f"{noun} {answered!r} is {verb} more than once"}]
    return []


def check_scores(
    experiment: str, scores: ScoreFile, store: PacketStore
) -> tuple[dict[str, str], Rubric]:
    """Check a score file against its packet and its rubric; InvalidScores lists every problem.

    Returns the item id -> run id mapping of the scored items, and the packet's rubric.
    """
    packet, problems = answered_packet(store.get, scores, experiment, "packet")
    runs = store.item_runs(packet.packet_id)
    counts = Counter(score.item_id for score in scores.scores)
    rubric = Rubric.from_dict(packet.rubric)
    for index, score in enumerate(scores.scores):
        problems += rubric.check_scores(score.values(), f"scores[{index}]")
        where = f"scores[{index}].item_id"
        problems += answered_id_problems(where, score.item_id, runs, counts, "item", "scored")
    if problems:
        raise InvalidScores(problems)
    return {score.item_id: runs[score.item_id] for score in scores.scores}, rubric
