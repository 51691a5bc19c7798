"""Pair packets, their pair -> runs mappings, each judge's open packet, and every pairwise
verdict, in Redis."""

from __future__ import annotations

import json
import re
from typing import Any

import redis

from shared.contracts.pairs import PairPacket
from shared.errors import PacketNotFound
from shared.settings import Settings
from shared.stores.packets import JUDGE_PACKET_TTL_S, PACKET_ID_PATTERN

_SEP = "\x1f"


class PairStore:
    """Per packet: the packet and pair -> (run a, run b); per experiment: the verdicts."""

    def __init__(self, client: redis.Redis[bytes], settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    def save(self, packet: PairPacket, pair_runs: dict[str, tuple[str, str]]) -> None:
        """Keep a judge's packet and its mapping, and make it the judge's open packet."""
        key = self._packet_key(packet.packet_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, packet.model_dump_json(), ex=JUDGE_PACKET_TTL_S)
            if pair_runs:
                mapping: dict[str | bytes, bytes | float | int | str] = {
                    pair: json.dumps(runs) for pair, runs in pair_runs.items()
                }
                pipe.hset(f"{key}:runs", mapping=mapping)
                pipe.expire(f"{key}:runs", JUDGE_PACKET_TTL_S)
            pipe.set(
                self._open_key(packet.experiment, packet.judge_id),
                packet.packet_id,
                ex=JUDGE_PACKET_TTL_S,
            )
            pipe.execute()

    def open_packet(self, experiment: str, judge_id: str) -> PairPacket | None:
        """The judge's packet that still has pairs without the judge's verdict, or None."""
        packet_id = self._redis.get(self._open_key(experiment, judge_id))
        if packet_id is None:
            return None
        try:
            packet = self.get(packet_id.decode())
        except PacketNotFound:
            return None  # expired
        judged = self.judged_by(experiment, judge_id)
        runs = self.pair_runs(packet.packet_id)
        if all(frozenset(pair) in judged for pair in runs.values()):
            return None
        return packet

    def get(self, packet_id: str) -> PairPacket:
        """A pair packet by id; PacketNotFound if unknown (or expired, or not an id at all)."""
        raw = self._redis.get(self._packet_key(packet_id))
        if raw is None:
            raise PacketNotFound(f"no pair packet {packet_id!r}")
        return PairPacket.model_validate_json(raw)

    def pair_runs(self, packet_id: str) -> dict[str, tuple[str, str]]:
        """The packet's pair id -> (run shown as a, run shown as b)."""
        raw = self._redis.hgetall(f"{self._packet_key(packet_id)}:runs")
        found = {}
        for pair_id, value in raw.items():
            run_a, run_b = json.loads(value)
            found[pair_id.decode()] = (str(run_a), str(run_b))
        return found

    def record(self, experiment: str, verdicts: list[dict[str, Any]]) -> None:
        """Keep verdicts ({judge_id, run_a, run_b, winner, ...}); a judge's later verdict on
        the same two runs replaces the earlier one, so a re-post changes nothing."""
        if not verdicts:
            return
        mapping: dict[str | bytes, bytes | float | int | str] = {
            _SEP.join((v["judge_id"], *sorted((v["run_a"], v["run_b"])))): json.dumps(v)
            for v in verdicts
        }
        self._redis.hset(self._settings.key("pair-verdicts", experiment), mapping=mapping)

    def verdicts(self, experiment: str) -> list[dict[str, Any]]:
        """Every judge's current verdict on every pair of runs, in a stable order."""
        raw = self._redis.hgetall(self._settings.key("pair-verdicts", experiment))
        return [dict(json.loads(raw[key])) for key in sorted(raw)]

    def judged_by(self, experiment: str, judge_id: str) -> set[frozenset[str]]:
        """The pairs of runs this judge has given a verdict on."""
        return {
            frozenset((v["run_a"], v["run_b"]))
            for v in self.verdicts(experiment)
            if v["judge_id"] == judge_id
        }

    def _open_key(self, experiment: str, judge_id: str) -> str:
        return self._settings.key("pair-packet-open", experiment, judge_id)

    def _packet_key(self, packet_id: str) -> str:
        # A packet id arrives in verdict files: one that is not an id must name no key.
        if not re.fullmatch(PACKET_ID_PATTERN, packet_id):
            raise PacketNotFound(f"no pair packet {packet_id!r}")
        return self._settings.key("pair-packet", packet_id)
