"""Judge packets and score submissions: their shape, where they are kept, how scores are checked.

A packet is blind: items carry an opaque id, the scenario and the tips, never the model,
the prompt version or the run. The item -> run mapping stays on the server.
"""

from __future__ import annotations

import random
import re
import secrets
from collections import Counter
from typing import Any, Literal

import redis
from pydantic import Field

from shared.base import Record
from shared.contracts import ScoreFile
from shared.errors import InvalidScores, PacketNotFound
from shared.rubric import Rubric
from shared.scores import ScoreStore
from shared.settings import Settings
from shared.suite_files import DEFAULT_SUITE, builtin_suite

PACKET_SCHEMA: Literal["tipbench.judge-packet/2"] = "tipbench.judge-packet/2"
PACKET_ID_PATTERN = "[0-9a-f]{12}"  # what new_id() makes
# A packet made on request for one judge (GET ...packet?judge=) is kept this long: long
# enough to score it by hand, and a GET never leaves keys that live for ever.
JUDGE_PACKET_TTL_S = 14 * 24 * 3600


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


class PacketScenario(Record):
    """The context a candidate was written for."""

    id: str = Field(description="Scenario id in the suite.")
    vars: dict[str, str] = Field(description="The scenario's fields, as the model saw them.")
    n_tips: int = Field(description="How many tips were asked for.")
    word_limit: int = Field(description="Words per tip above which a tip is overlong.")


class Candidate(Record):
    """What a judge sees of one run: the scenario and the answer, nothing identifying."""

    scenario: PacketScenario = Field(description="Who and when.")
    answer: str = Field(description="The candidate's full answer.")
    tips: list[str] = Field(description="The tips tipbench parsed from the answer.")


class PacketItem(Candidate):
    """One blind candidate to score."""

    item_id: str = Field(description="Opaque id; quote it in the score file.")


class JudgePacket(Record):
    """A self-describing, blind set of candidates for a judge."""

    schema_version: Literal["tipbench.judge-packet/2"] = Field(description="Packet format.")
    packet_id: str = Field(description="Quote it in the score file.")
    experiment: str = Field(description="Experiment name.")
    judge_id: str | None = Field(None, description="The judge it was made for, if any.")
    rubric: dict[str, Any] = Field(description="The full rubric.")
    instructions: str = Field(description="How to score.")
    score_file_example: dict[str, Any] = Field(description="The shape of the answer.")
    items: list[PacketItem] = Field(description="The candidates, in shuffled order.")


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


class PacketStore:
    """Packets, their item -> run mappings, and score submissions, in Redis."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    def save(self, packet: JudgePacket, item_runs: dict[str, str], *, latest: bool) -> None:
        """Keep a packet with its mapping and make it the experiment's current packet, or,
        if not `latest` (a judge's own packet), keep it for JUDGE_PACKET_TTL_S."""
        key = self._settings.key("packet", packet.packet_id)
        ttl = None if latest else JUDGE_PACKET_TTL_S
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, packet.model_dump_json(), ex=ttl)
            if item_runs:
                mapping: dict[str | bytes, bytes | float | int | str] = dict(item_runs.items())
                pipe.hset(f"{key}:runs", mapping=mapping)
                if ttl is not None:
                    pipe.expire(f"{key}:runs", ttl)
            if latest:
                pipe.set(self._settings.key("packet-latest", packet.experiment), packet.packet_id)
            pipe.execute()

    def add_candidates(
        self, experiment: str, candidates: dict[str, Candidate], rubric: Rubric
    ) -> None:
        """Add runs to the experiment's pool of candidates that judges can be given."""
        self._redis.set(self._settings.key("rubric", experiment), rubric.model_dump_json())
        if candidates:
            self._redis.hset(
                self._settings.key("candidates", experiment),
                mapping={run: c.model_dump_json() for run, c in candidates.items()},
            )

    def rubric(self, experiment: str) -> Rubric:
        """The rubric the experiment's candidates are judged by (its suite's)."""
        raw = self._redis.get(self._settings.key("rubric", experiment))
        return (
            builtin_suite(DEFAULT_SUITE).rubric if raw is None else Rubric.model_validate_json(raw)
        )

    def candidates(self, experiment: str) -> dict[str, Candidate]:
        """The experiment's pool: run id -> candidate."""
        raw = self._redis.hgetall(self._settings.key("candidates", experiment))
        return {k.decode(): Candidate.model_validate_json(v) for k, v in raw.items()}

    def latest(self, experiment: str) -> JudgePacket:
        """The experiment's current packet; PacketNotFound if none was built yet."""
        packet_id = self._redis.get(self._settings.key("packet-latest", experiment))
        if packet_id is None:
            raise PacketNotFound(
                f"experiment {experiment!r} has no judge packet yet: one is built when a job"
                " of it finishes"
            )
        return self.get(packet_id.decode())

    def get(self, packet_id: str) -> JudgePacket:
        """A packet by id; PacketNotFound if unknown (or expired, or not an id at all)."""
        raw = self._redis.get(self._packet_key(packet_id))
        if raw is None:
            raise PacketNotFound(f"no judge packet {packet_id!r}")
        return JudgePacket.model_validate_json(raw)

    def item_runs(self, packet_id: str) -> dict[str, str]:
        """The packet's item id -> run id mapping."""
        raw = self._redis.hgetall(f"{self._packet_key(packet_id)}:runs")
        return {k.decode(): v.decode() for k, v in raw.items()}

    def _packet_key(self, packet_id: str) -> str:
        # A packet id arrives in score files: one that is not an id (`<id>:runs`) must
        # never name another key.
        if not re.fullmatch(PACKET_ID_PATTERN, packet_id):
            raise PacketNotFound(f"no judge packet {packet_id!r}")
        return self._settings.key("packet", packet_id)

    def save_submission(self, submission_id: str, experiment: str, scores: ScoreFile) -> None:
        """Keep a validated score file until the judge bridge ingests it."""
        self._redis.hset(
            self._settings.key("submission", submission_id),
            mapping={
                "experiment": experiment,
                "status": "queued",
                "scores": scores.model_dump_json(),
            },
        )

    def submission(self, submission_id: str) -> dict[str, str]:
        """A submission's experiment, status, error and score file (JSON)."""
        raw = self._redis.hgetall(self._settings.key("submission", submission_id))
        if not raw:
            raise PacketNotFound(f"no score submission {submission_id!r}")
        return {k.decode(): v.decode() for k, v in raw.items()}

    def set_submission_status(self, submission_id: str, status: str, error: str = "") -> None:
        """Record what became of a submission (ingested, failed)."""
        self._redis.hset(
            self._settings.key("submission", submission_id),
            mapping={"status": status, "error": error},
        )


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


def check_scores(
    experiment: str, scores: ScoreFile, store: PacketStore
) -> tuple[dict[str, str], Rubric]:
    """Check a score file against its packet and its rubric; InvalidScores lists every problem.

    Returns the item id -> run id mapping of the scored items, and the packet's rubric.
    """
    try:
        packet = store.get(scores.packet_id)
    except PacketNotFound as exc:
        raise InvalidScores([{"field": "packet_id", "message": str(exc)}]) from None
    problems: list[dict[str, str]] = []
    if packet.judge_id is not None and packet.judge_id != scores.judge_id:
        problems.append(
            {
                "field": "judge_id",
                "message": f"packet {packet.packet_id} was made for judge {packet.judge_id!r},"
                f" not {scores.judge_id!r}",
            }
        )
    if packet.experiment != experiment:
        problems.append(
            {
                "field": "packet_id",
                "message": f"packet {packet.packet_id} belongs to experiment"
                f" {packet.experiment!r}, not {experiment!r}",
            }
        )
    runs = store.item_runs(packet.packet_id)
    counts = Counter(score.item_id for score in scores.scores)
    rubric = Rubric.from_dict(packet.rubric)
    for index, score in enumerate(scores.scores):
        problems += rubric.check_scores(score.values(), f"scores[{index}]")
        where = f"scores[{index}].item_id"
        if score.item_id not in runs:
            problems.append(
                {"field": where, "message": f"item {score.item_id!r} is not in the packet"}
            )
        elif counts[score.item_id] > 1:
            problems.append(
                {"field": where, "message": f"item {score.item_id!r} is scored more than once"}
            )
    if problems:
        raise InvalidScores(problems)
    return {score.item_id: runs[score.item_id] for score in scores.scores}, rubric
