"""The dramatiq broker factory: a RedisBroker under this stack's namespace."""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from typing import Any

import dramatiq
import redis
from dramatiq import Message
from dramatiq.broker import Broker, MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import Middleware

from shared.logs import configure_logging, request_id_var
from shared.settings import Settings
from shared.wakeup import WakingConsumer, push_wake

# dramatiq puts back the messages of a dead worker (SIGKILL, OOM, power loss) only during
# a "maintenance" pass of a command on the same queue, run with probability
# maintenance_chance/1e6, and only for workers silent for heartbeat_timeout ms. Idle
# consumers here fetch once per wait (every 4 s; they are woken by enqueues, not polling,
# shared/wakeup.py), so a chance per command would leave a dead worker's message waiting
# many minutes: every fetch does the pass (ResilientRedisBroker), a few cheap reads when
# no worker is dead, and a dead worker's message comes back within 4 s of the 20 s
# timeout, while a live worker (a heartbeat every fetch, at most 4 s apart) is never
# mistaken for a dead one.
MAINTENANCE_CHANCE = 20_000  # for the other commands
HEARTBEAT_TIMEOUT_MS = 20_000


REQUEST_ID_OPTION = "request_id"
log = logging.getLogger("tipbench.broker")
# How long a stopping worker waits for its last actor statistics to be written.
WRITER_STOP_S = 5.0


class MessageEnd(Middleware):
    """A middleware told once when a worker is done with a message: `ended` (handled, failed
    or skipped), in place of dramatiq's two hooks and their long signature."""

    def ended(
        self, message: MessageProxy, exception: BaseException | None, *, skipped: bool = False
    ) -> None:
        """The worker is done with the message: `exception` if the actor raised, `skipped`
        if a middleware skipped it."""

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self.ended(message, exception)

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self.ended(message, None, skipped=True)


class ActorStats(MessageEnd):
    """Counts per actor in Redis (`<namespace>:actor-stats`): processed, failed, retried, ms.

    A thread of the middleware's own writes them, so a worker starts its next message
    without waiting for that round trip (the collector's time between two generations):
    it blocks until counts are handed to it (no wake-up at rest) and writes all that
    arrived meanwhile in one round trip. A stopping worker's last counts are written
    before it ends."""

    def __init__(self, settings: Settings) -> None:
        self._key = settings.key("actor-stats")
        self._client: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
        self._started: dict[str, float] = {}
        self._writer_lock = threading.Lock()
        # the counts for the writer; None tells it to stop once all before it are written
        self._pending: queue.SimpleQueue[tuple[str, dict[str, float]] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    def _count(self, actor: str, counts: dict[str, float]) -> None:
        """Hand the actor's counts to the writer, started here if there is none alive (in
        the process that counts: a dramatiq worker process is forked from its parent)."""
        with self._writer_lock:
            self._pending.put((actor, counts))
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(
                    target=self._write_until_stopped,
                    args=(self._pending,),
                    name="actor-stats",
                    daemon=True,
                )
                self._writer.start()

    def _write_until_stopped(
        self, pending: queue.SimpleQueue[tuple[str, dict[str, float]] | None]
    ) -> None:
        while True:
            batch = [pending.get()]
            while True:
                try:
                    batch.append(pending.get_nowait())
                except queue.Empty:
                    break
            counted = [item for item in batch if item is not None]
            if counted:
                self._write(counted)
            if len(counted) < len(batch):
                return

    def _write(self, batch: list[tuple[str, dict[str, float]]]) -> None:
        """Add every count of the batch to its actor's counters, in one round trip."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for actor, counts in batch:
                    for what, amount in counts.items():
                        pipe.hincrbyfloat(self._key, f"{actor}:{what}", amount)
                pipe.execute()
        except Exception:  # statistics never fail a message, nor stop their writer
            log.warning("actor statistics not written", exc_info=True)

    def after_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        # The stopping writer gets a queue of its own: counts that come later go to a new
        # queue and a new writer, never past the stop.
        with self._writer_lock:
            writer, pending = self._writer, self._pending
            self._writer, self._pending = None, queue.SimpleQueue()
        if writer is not None:
            pending.put(None)
            writer.join(timeout=WRITER_STOP_S)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self._started[message.message_id] = time.perf_counter()

    def ended(
        self, message: MessageProxy, exception: BaseException | None, *, skipped: bool = False
    ) -> None:
        started = self._started.pop(message.message_id, None)
        if skipped:
            return
        counts: dict[str, float] = {"processed" if exception is None else "failed": 1}
        if started is not None:
            counts["ms"] = (time.perf_counter() - started) * 1000
        self._count(message.actor_name, counts)

    def after_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None:
        if message.options.get("retries"):
            self._count(message.actor_name, {"retried": 1})


class RequestId(MessageEnd):
    """While an actor handles a message, the message's request id is the current one."""

    def before_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None:
        # Messages enqueued while handling one (retries, callbacks, self-sends) keep its id.
        request_id = request_id_var.get()
        if request_id and REQUEST_ID_OPTION not in message.options:
            message.options[REQUEST_ID_OPTION] = request_id

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        request_id_var.set(message.options.get(REQUEST_ID_OPTION))

    def ended(
        self, message: MessageProxy, exception: BaseException | None, *, skipped: bool = False
    ) -> None:
        request_id_var.set(None)


# A worker's name outlives a silent week at most; a SIGKILLed worker cannot remove its own.
WORKER_NAME_TTL_S = 7 * 24 * 3600
# A working worker renews it at most this often (not with every message: one round trip
# less between two generations).
WORKER_NAME_RENEW_S = 60.0


def worker_name_key(settings: Settings, broker_id: str) -> str:
    """Where a worker process's service name is kept, by its dramatiq broker id."""
    return settings.key("worker-service", broker_id)


class WorkerName(MessageEnd):
    """Records which service a worker process is, by the broker id its heartbeats carry
    (dramatiq's `__heartbeats__` knows only that id); renewed as messages end, at most
    once a WORKER_NAME_RENEW_S."""

    def __init__(self, settings: Settings, service: str) -> None:
        self._settings, self._service = settings, service
        self._client: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
        self._key: str | None = None
        self._noted = -WORKER_NAME_RENEW_S  # monotonic time of the last write

    def _note(self, *, force: bool = False) -> None:
        if self._key is None:
            return
        now = time.monotonic()
        if not force and now - self._noted < WORKER_NAME_RENEW_S:
            return
        try:
            self._client.set(self._key, self._service, ex=WORKER_NAME_TTL_S)
            self._noted = now
        except redis.RedisError:
            pass  # a name for the admin page never fails a worker or a message

    def after_worker_boot(self, broker: Broker, worker: Any) -> None:
        self._key = worker_name_key(self._settings, str(getattr(broker, "broker_id", "")))
        self._note(force=True)

    def ended(
        self, message: MessageProxy, exception: BaseException | None, *, skipped: bool = False
    ) -> None:
        self._note()


ENQUEUE_RETRY_S = 60.0


class WakeAtShutdown(Middleware):
    """Wakes the broker's consumers when a worker begins to stop (idle ones wait up to
    several worker timeouts, shared/wakeup.py)."""

    def before_worker_shutdown(self, broker: Broker, worker: dramatiq.Worker) -> None:
        if isinstance(broker, ResilientRedisBroker):
            broker.wake_for_shutdown()

    def after_worker_shutdown(self, broker: Broker, worker: dramatiq.Worker) -> None:
        if isinstance(broker, ResilientRedisBroker):
            broker.stopping = False  # a later worker of the broker waits as usual


class ResilientRedisBroker(RedisBroker):
    """A RedisBroker whose enqueue waits out a Redis restart instead of failing, and whose
    idle consumers block until a message is enqueued (`shared/wakeup.py`).

    dramatiq's Retries middleware enqueues a failed message's retry from a hook whose
    errors are only logged, and the original message is then acknowledged: during a Redis
    outage that retry would be lost, and the cell with it. Here an enqueue retries on a
    connection error for up to ENQUEUE_RETRY_S seconds, then raises.
    """

    def __init__(self, *, wake_prefix: str, **options: Any) -> None:
        super().__init__(**options)  # type: ignore[no-untyped-call]
        self.wake_prefix = wake_prefix
        self.stopping = False  # a worker of this broker is stopping
        self._consumers: weakref.WeakSet[WakingConsumer] = weakref.WeakSet()
        self._consumers_lock = threading.Lock()
        self.add_middleware(WakeAtShutdown())

    def wake_key(self, queue_name: str) -> str:
        """The wake-up list of a queue (outside dramatiq's own namespace)."""
        return f"{self.wake_prefix}:{queue_name}"

    def _should_do_maintenance(self, command: str) -> int:
        """Every fetch does dramatiq's maintenance pass (see MAINTENANCE_CHANCE)."""
        if command == "fetch":
            return 1
        return int(super()._should_do_maintenance(command))

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> WakingConsumer:
        consumer = WakingConsumer(self, queue_name, prefetch, timeout, self.wake_key(queue_name))
        with self._consumers_lock:
            self._consumers.add(consumer)
        return consumer

    def wake_for_shutdown(self) -> None:
        """A worker of this broker is stopping: end its consumers' idle waits now; their
        later waits last one worker timeout (`stopping`), so that they see the stop."""
        self.stopping = True
        with self._consumers_lock:
            consumers = list(self._consumers)
        for consumer in consumers:
            try:
                consumer.wake()
            except redis.RedisError:
                pass  # Redis is away: the consumer's wait fails on its own

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        deadline = time.monotonic() + ENQUEUE_RETRY_S
        pause = 0.2
        while True:
            try:
                sent: Message[Any] = super().enqueue(message, delay=delay)
                break
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
        try:
            push_wake(self.client, self.wake_key(sent.queue_name))
        except redis.RedisError:
            pass  # the message is queued; an idle consumer finds it at its next fetch
        return sent


def worker_broker(settings: Settings, service: str) -> RedisBroker:
    """A worker process's start: its JSON logs, its broker (with metrics and, when the
    reliability suite arms them, ack failpoints), made dramatiq's broker."""
    from shared import faults  # here: faults builds on MessageEnd, defined above

    configure_logging(settings.service or service)
    broker = make_broker(settings, worker=True)
    broker.add_middleware(WorkerName(settings, settings.service or service))
    faults.install(broker)
    dramatiq.set_broker(broker)
    return broker


def make_broker(settings: Settings, *, worker: bool = False) -> RedisBroker:
    """Build the RedisBroker every service and the gateway use.

    Workers (worker=True) also export dramatiq's Prometheus metrics (messages by actor and
    outcome, in progress, durations) from a process the dramatiq CLI forks; where it
    listens comes from dramatiq_prom_host / dramatiq_prom_port / dramatiq_prom_db.
    """
    broker: RedisBroker = ResilientRedisBroker(
        wake_prefix=settings.key("wake"),
        url=settings.redis_url,
        namespace=settings.key("dramatiq"),
        maintenance_chance=MAINTENANCE_CHANCE,
        heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
    )
    broker.add_middleware(RequestId())
    if worker:
        broker.add_middleware(ActorStats(settings))
        # Imported here: the module creates its database folder when imported.
        from dramatiq.middleware.prometheus import Prometheus

        broker.add_middleware(Prometheus())
    return broker
