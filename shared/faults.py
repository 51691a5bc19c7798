"""Failpoints: named places where a process kills itself, for the reliability suite.

`TIPBENCH_FAULTS=record.run_created,ack.collect_cell` arms those points in the processes
that see the variable. The first process of the stack to reach an armed point records it
in Redis and sends itself SIGKILL, exactly as `kill -9` would at that instant; the point
never fires again in that stack (a restarted process runs on). Unarmed, a point costs a
lookup in an empty set. Points:

- `record.run_created`: the recorder, after a cell's MLflow run is created, before it ends;
- `ack.<actor>`: any worker, after <actor> handled a message, before the broker acks it;
- `ingest.partial`: the judge bridge, after writing the first run of a score file;
- `rebuild.locked`: a reporter, holding an experiment's rebuild lock, before reading.
"""

from __future__ import annotations

import os
import signal
from functools import cache

import redis
from dramatiq.broker import Broker, MessageProxy
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.broker import MessageEnd
from shared.settings import Settings


class Failpoints(BaseSettings):
    """The failpoints armed in this process: TIPBENCH_FAULTS (the reliability suite sets it).

    Kept apart from Settings on purpose: production configuration has no failpoints."""

    model_config = SettingsConfigDict(env_prefix="TIPBENCH_", extra="ignore", frozen=True)
    faults: str = Field("", description="Comma-separated failpoints to arm.")

    def names(self) -> frozenset[str]:
        """The armed points."""
        return frozenset(n.strip() for n in self.faults.split(",") if n.strip())


@cache
def _armed() -> tuple[frozenset[str], Settings | None]:
    names = Failpoints().names()
    return names, Settings() if names else None


def fault_point(name: str) -> None:
    """Die here (SIGKILL) if the point is armed and has not fired yet in this stack."""
    names, settings = _armed()
    if name not in names or settings is None:
        return
    with redis.Redis.from_url(settings.redis_url) as client:
        first = client.set(settings.key("fault-fired", name), str(os.getpid()), nx=True)
    if first:
        os.kill(os.getpid(), signal.SIGKILL)


class AckFaults(MessageEnd):
    """Armed `ack.<actor>` points die after the actor, before the broker acks the message."""

    def ended(
        self, message: MessageProxy, exception: BaseException | None, *, skipped: bool = False
    ) -> None:
        if exception is None and not skipped:
            fault_point(f"ack.{message.actor_name}")


def install(broker: Broker) -> None:
    """Give a worker's broker the ack failpoints, if any is armed (the reliability suite)."""
    if any(name.startswith("ack.") for name in _armed()[0]):
        broker.add_middleware(AckFaults())
