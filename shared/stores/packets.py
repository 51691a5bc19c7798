"""Packets, their item -> run mappings, the experiment's candidates and rubric, and score
submissions, in Redis."""

from __future__ import annotations

import json
import re

import redis

from shared.contracts.packets import Candidate, JudgePacket
from shared.contracts.pairs import PairScoreFile
from shared.contracts.requests import ScoreFile
from shared.errors import PacketNotFound
from shared.rubric import Rubric
from shared.settings import Settings
from shared.suite_files import DEFAULT_SUITE, builtin_suite

PACKET_ID_PATTERN = "[0-9a-f]{12}"  # what new_id() makes
# A packet made on request for one judge (GET ...packet?judge=) is kept this long: long
# enough to score it by hand, and a GET never leaves keys that live for ever.
JUDGE_PACKET_TTL_S = 14 * 24 * 3600


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

    def add_rows(self, experiment: str, rows: dict[str, tuple[str, str, str]]) -> None:
        """Note which (model, prompt, scenario) each pooled run is: pairs are drawn by row."""
        if rows:
            self._redis.hset(
                self._settings.key("candidate-rows", experiment),
                mapping={run: json.dumps(row) for run, row in rows.items()},
            )

    def rows(self, experiment: str) -> dict[str, tuple[str, str, str]]:
        """The pool's run id -> (model, prompt version, scenario id)."""
        raw = self._redis.hgetall(self._settings.key("candidate-rows", experiment))
        found = {}
        for run_id, value in raw.items():
            model, prompt, scenario = json.loads(value)
            found[run_id.decode()] = (str(model), str(prompt), str(scenario))
        return found

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

    def save_submission(
        self, submission_id: str, experiment: str, scores: ScoreFile | PairScoreFile
    ) -> None:
        """Keep a validated score (or pairwise verdict) file until the judge bridge ingests it."""
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
