"""The dramatiq broker factory: a RedisBroker under this stack's namespace."""

from __future__ import annotations

from dramatiq.brokers.redis import RedisBroker

from shared.settings import Settings

# dramatiq puts back the messages of a dead worker (SIGKILL, OOM, power loss) only during
# a "maintenance" pass, run with probability maintenance_chance/1e6 per fetch, and only
# for workers silent for heartbeat_timeout ms. The defaults (0.1%, 60 s) left a killed
# collector's cell unredelivered for minutes; 2% and 20 s bring it back within ~30 s
# while a live worker (heartbeat every fetch, ~1 s) is never mistaken for a dead one.
MAINTENANCE_CHANCE = 20_000
HEARTBEAT_TIMEOUT_MS = 20_000


def make_broker(settings: Settings) -> RedisBroker:
    """Build the RedisBroker every service and the gateway use."""
    broker: RedisBroker = RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.redis_url,
        namespace=settings.key("dramatiq"),
        maintenance_chance=MAINTENANCE_CHANCE,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
    )
    return broker
