"""The Kafka side of the live stream: one consumer per worker, and catch-up reads.

The feed is a view: its consumer belongs to no group and commits nothing, and it reads every
partition of every source topic, so any worker serves any tenant's stream. It starts with the
first subscriber, at the end of each partition, and stops when nobody has watched for
``linger`` seconds, so a worker without console clients pays nothing. A client resuming from a
cursor gets the records between its cursor and where the feed was when it subscribed from a
consumer of its own (:meth:`LiveFeed.replay`), read at the client's pace, then the live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, Gauge

from app.live.cursor import Position
from app.live.hub import Hub, Keep, Subscriber
from app.live.sources import SOURCES, Event, Source
from app.metrics import REGISTRY

log = logging.getLogger(__name__)

FETCH_WAIT_MS = 50  # how long the broker may hold a fetch: the feed's share of the latency
FETCH_BYTES = 256 * 1024  # per partition: what one fetch may bring into memory
BATCH = 500  # records handled per loop turn

stream_clients = Gauge(
    "alertflow_stream_clients", "Clients of GET /api/v1/stream on this worker.", registry=REGISTRY
)
stream_buffered = Gauge(
    "alertflow_stream_buffered_events",
    "Events waiting in the stream clients' buffers of this worker (bounded per client).",
    registry=REGISTRY,
)
stream_dropped = Counter(
    "alertflow_stream_dropped_events",
    "Events a stream client missed because it read slower than they came (it got a marker).",
    registry=REGISTRY,
)


class TooManyClients(Exception):
    """The worker serves as many stream clients as it allows."""


class LiveFeed:
    """The feed of one worker: a hub of subscribers and the consumer that fills it."""

    def __init__(
        self,
        bootstrap: str,
        sources: Sequence[Source] = SOURCES,
        *,
        max_clients: int = 200,
        linger: float = 60.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.sources = {source.topic: source for source in sources}
        self.max_clients = max_clients
        self.linger = linger
        self.hub = Hub()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._lock = asyncio.Lock()
        self._dropped_reported = 0

    async def subscribe(self, keep: Keep, capacity: int) -> Subscriber:
        """A subscriber positioned where the feed is now (the feed starts if it was idle)."""
        if len(self.hub.subscribers) >= self.max_clients:
            raise TooManyClients(f"this worker already serves {self.max_clients} stream clients")
        await self._ensure_running()
        subscriber = self.hub.subscribe(keep, capacity)  # no await since the check: atomic
        stream_clients.set(len(self.hub.subscribers))
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """The client went away."""
        self.hub.unsubscribe(subscriber)
        stream_clients.set(len(self.hub.subscribers))
        self._report()

    async def replay(self, start: Position, until: Position, keep: Keep) -> AsyncIterator[Event]:
        """The events ``keep`` wants between ``start`` and ``until`` (exclusive), in order
        per partition, read by a consumer of its own as fast as the caller takes them."""
        wanted = {
            TopicPartition(topic, partition): end
            for (topic, partition), end in until.items()
            if start.get((topic, partition), end) < end and topic in self.sources
        }
        if not wanted:
            return
        consumer = self._consumer(auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign(list(wanted))
            for tp in wanted:
                consumer.seek(tp, start[(tp.topic, tp.partition)])
            remaining = set(wanted)
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=BATCH)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= wanted[tp]:
                            break
                        event = self._event(tp, record.offset, record.value)
                        if event is not None and keep(event):
                            yield event
                for tp in list(remaining):
                    if await consumer.position(tp) >= wanted[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        """Stop the consumer and tell every subscriber (the worker is shutting down)."""
        self.hub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _ensure_running(self) -> None:
        async with self._lock:
            if self._task is not None and not self._task.done() and not self._stopping:
                return
            if self._task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task  # it is lingering out: let it finish, then start afresh
            consumer = self._consumer(auto_offset_reset="latest")
            consumer.subscribe(list(self.sources))  # no group: every partition is assigned
            await consumer.start()
            try:
                async with asyncio.timeout(30):
                    while not consumer.assignment():
                        await asyncio.sleep(0.05)
                partitions = sorted(consumer.assignment())
                await consumer.seek_to_end(*partitions)
                self.hub.position = {
                    (tp.topic, tp.partition): await consumer.position(tp) for tp in partitions
                }
            except BaseException:
                await consumer.stop()
                raise
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(consumer))

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        idle_since: float | None = None
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
                for tp, records in batches.items():
                    for record in records:
                        event = self._event(tp, record.offset, record.value)
                        self.hub.advance(tp.topic, tp.partition, record.offset, event)
                self._report()
                if self.hub.subscribers:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self.linger:
                    self._stopping = True  # set before any await: subscribe() sees it
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the live feed's consumer failed; it restarts with the next client")
            self._stopping = True
            self.hub.close()
        finally:
            await consumer.stop()

    def _event(self, tp: TopicPartition, offset: int, raw: bytes | None) -> Event | None:
        if raw is None:
            return None
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None  # not ours to judge: the feed shows what it can read
        return self.sources[tp.topic].event(tp.partition, offset, value)

    def _consumer(self, *, auto_offset_reset: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            fetch_max_wait_ms=FETCH_WAIT_MS,
            max_partition_fetch_bytes=FETCH_BYTES,
            client_id="alertflow-live",
        )

    def _report(self) -> None:
        stream_buffered.set(self.hub.buffered)
        dropped = self.hub.dropped_total
        if dropped > self._dropped_reported:
            stream_dropped.inc(dropped - self._dropped_reported)
        self._dropped_reported = dropped
