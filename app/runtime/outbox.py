"""One send path: everything the stages produce, as record batches through one producer
(two librdkafka clients: inter-stage topics uncompressed, the rest lz4).

Faust's own send path costs about 300 µs a message here (its buffer, futures and sensors per
record); librdkafka (:class:`Producer`) takes a message in about a µs and builds the requests
on threads of its own. An :class:`Outbox` collects what a stage produces between two flushes,
grouped by topic and partition:

- *batch items* for an inter-stage topic: the records bound for one partition of the next
  stage, written as few messages ``{"batch": [[key, value], ...]}`` (:mod:`app.runtime.batches`);
- *records* for a public topic: one Kafka message each, keyed, at its event time;
- *rows* for a changelog topic: one message per key, the last write of a key winning.

:meth:`Outbox.flush` sends them all and returns once the broker acknowledged every one
(``acks=all``); only then are the input messages acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial

from aiokafka.errors import KafkaError
from confluent_kafka import KafkaError as DeliveryError
from confluent_kafka import KafkaException
from confluent_kafka import Message as KafkaMessage
from confluent_kafka import Producer as KafkaProducer

from app.runtime.batches import MAX_BATCH_BYTES, MAX_RECORD_BYTES, Message, Place, packed
from app.runtime.blocking_producer import producer_config

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05  # the reports thread's wait for delivery reports


class RecordTooLarge(ValueError):
    """A record that no Kafka message can carry (the broker's 1 MB message limit)."""


def batchable(topic: str, item: bytes) -> bytes:
    """``item`` (one encoded ``[key, value]`` for ``topic``), unless no batch message can carry
    it."""
    if len(item) > MAX_BATCH_BYTES:
        raise RecordTooLarge(f"{topic}: a record of {len(item):,} bytes")
    return item


@dataclass
class Outbox:
    """What a stage produced since the last :meth:`flush`, by topic and partition."""

    producer: Producer
    _items: dict[Place, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    _records: dict[Place, list[Message]] = field(default_factory=lambda: defaultdict(list))
    _rows: dict[Place, dict[bytes, bytes | None]] = field(default_factory=lambda: defaultdict(dict))
    _after: list[Callable[[], None]] = field(default_factory=list)

    def item(self, topic: str, partition: int, item: bytes) -> None:
        """Queue one encoded ``[key, value]`` for an inter-stage topic."""
        self._items[(topic, partition)].append(batchable(topic, item))

    def record(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        timestamp_ms: int | None,
    ) -> None:
        """Queue one message for a public topic (``None``: a tombstone)."""
        size = len(value or b"") + len(key or b"")
        if size > MAX_RECORD_BYTES:
            raise RecordTooLarge(f"{topic}: a record of {size:,} bytes")
        self._records[(topic, partition)].append((key, value, timestamp_ms))

    def row(self, topic: str, partition: int, key: bytes, value: bytes | None) -> None:
        """Queue a table row's changelog message (``None``: deleted); the last write wins."""
        if value is not None and len(value) + len(key) > MAX_RECORD_BYTES:
            raise RecordTooLarge(f"{topic}: a row of {len(value):,} bytes")
        self._rows[(topic, partition)][key] = value

    def after_sent(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once everything queued with it is acknowledged by the broker."""
        self._after.append(callback)

    def __len__(self) -> int:
        return (
            sum(map(len, self._items.values()))
            + sum(map(len, self._records.values()))
            + sum(map(len, self._rows.values()))
        )

    def merge(self, other: Outbox) -> None:
        """Take over everything ``other`` holds (a handler's outputs, once it succeeded)."""
        for place, items in other._items.items():
            self._items[place].extend(items)
        for place, records in other._records.items():
            self._records[place].extend(records)
        for place, rows in other._rows.items():
            self._rows[place].update(rows)
        self._after.extend(other._after)
        other.clear()

    def clear(self) -> None:
        """Forget everything queued."""
        self._items.clear()
        self._records.clear()
        self._rows.clear()
        self._after.clear()

    async def flush(self) -> dict[Place, int]:
        """Send everything queued; return the last offset written per changelog place."""
        messages: dict[Place, list[Message]] = defaultdict(list)
        for place, items in self._items.items():
            messages[place].extend(packed(items))
        for place, records in self._records.items():
            messages[place].extend(records)
        for place, rows in self._rows.items():
            messages[place].extend((key, value, None) for key, value in rows.items())
        changelogs = set(self._rows)
        if messages:  # on failure everything stays queued, to be sent again
            ends = await self.producer.send(messages)
        after = list(self._after)
        self.clear()
        for callback in after:
            try:
                callback()
            except Exception:  # a callback's failure is its own; the batch is sent
                log.exception("a callback after sending failed")
        return {place: ends[place] for place in changelogs if place in ends} if messages else {}


class Producer:
    """alertflow's producer: librdkafka (confluent-kafka), ``acks=all``, idempotent.

    librdkafka builds, sends and retries the produce requests in C on threads of its own, so the
    event loop only hands each message over (aiokafka built them in Python on the loop: about
    10% of a worker's samples at 1,000 new alerts/s). Delivery reports are served by a thread of
    each client's; the last one of a send wakes the loop once. Idempotence keeps each
    partition's messages in order through librdkafka's retries and pipelined requests.

    Two clients, as librdkafka compresses per client, not per topic: the ``plain_topics``
    (inter-stage topics, which the next stage's consumer would decompress on its event loop) go
    uncompressed; the rest (changelog rows, public topics: most of the bytes, never read back on
    the hot path) lz4-compressed, so the broker handles fewer bytes. A topic always goes
    through the same client, so a partition's messages stay in the order they were sent.
    """

    def __init__(self, bootstrap: str, plain_topics: Collection[str] = ()) -> None:
        self._compressed = _Client(bootstrap, "lz4")
        self._plain = _Client(bootstrap, "none")
        self._plain_topics = frozenset(plain_topics)

    async def send(self, messages: dict[Place, list[Message]]) -> dict[Place, int]:
        """Send every message; return each place's last offset once all are acknowledged.

        A message the broker refused, or did not acknowledge within the delivery timeout
        (:data:`app.runtime.blocking_producer.DELIVERY_TIMEOUT_MS`), fails the send with
        aiokafka's ``KafkaError`` (what every caller handles for a send that went unanswered);
        what failed is for the caller to send again."""
        reports = _Reports(asyncio.get_running_loop(), sum(map(len, messages.values())))
        for place, queued in messages.items():
            topic, partition = place
            client = self._plain if topic in self._plain_topics else self._compressed
            producer = client.started()
            report = partial(reports.report, place)
            for key, value, timestamp in queued:
                try:
                    producer.produce(
                        topic,
                        value,
                        key,
                        partition=partition,
                        on_delivery=report,
                        timestamp=timestamp or 0,
                    )
                except BufferError:  # librdkafka's queue is full: the broker is not taking
                    reports.fail(place, "the producer's queue is full")
                except KafkaException as error:  # refused before it was sent
                    reports.fail(place, str(error))
        return await reports.done

    async def stop(self) -> None:
        """Deliver what is queued (for up to the delivery timeout), then stop."""
        await asyncio.gather(self._compressed.stop(), self._plain.stop())


class _Client:
    """One librdkafka producer and the thread serving its delivery reports; a new one after a
    fatal error."""

    def __init__(self, bootstrap: str, compression: str) -> None:
        self._bootstrap = bootstrap
        self._compression = compression
        self._producer: KafkaProducer | None = None
        self._polling: threading.Thread | None = None
        self._stopping = threading.Event()
        self._broken = False  # librdkafka reported a fatal error: this producer sends no more

    def started(self) -> KafkaProducer:
        """The producer, started on first use (again after a fatal error)."""
        if self._broken:
            self._discard()
        if self._producer is None:
            self._stopping = threading.Event()  # this producer's: a discarded one's thread ends
            # linger 1 ms: a send holds a whole window already
            config = producer_config(self._bootstrap, 1, self._on_error, self._compression)
            self._producer = KafkaProducer(config)
            self._polling = threading.Thread(
                target=_poll,
                args=(self._producer, self._stopping),
                name="producer-reports",
                daemon=True,
            )
            self._polling.start()
        return self._producer

    def _on_error(self, error: DeliveryError) -> None:
        if error.fatal():
            log.error("the producer failed for good, a new one takes over: %s", error.str())
            self._broken = True

    def _discard(self) -> None:
        """Let a broken producer go without waiting: its thread serves the reports of what it
        still holds (failed, as a fatal error fails everything) and ends."""
        self._stopping.set()
        self._producer, self._polling, self._broken = None, None, False

    async def stop(self) -> None:
        """Deliver what is queued (for up to the delivery timeout), then stop."""
        polling, self._producer, self._polling = self._polling, None, None
        self._stopping.set()
        if polling is not None:
            await asyncio.get_running_loop().run_in_executor(None, polling.join)


def _poll(producer: KafkaProducer, stopping: threading.Event) -> None:
    """Serve ``producer``'s delivery reports (its own thread) until ``stopping`` is set and
    nothing is left to report: each message queued is acknowledged, refused or timed out
    (the delivery timeout), so every send still waiting hears how it ended."""
    while not stopping.is_set() or len(producer):
        producer.poll(POLL_SECONDS)


class _Reports:
    """The delivery reports of one send, counted on the producer's thread; the last one
    settles :attr:`done` on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: int) -> None:
        self._loop = loop
        self._waiting = expected
        self._counting = threading.Lock()  # a refused message is counted on the loop
        self._ends: dict[Place, int] = {}
        self._failure: str | None = None
        self.done: asyncio.Future[dict[Place, int]] = loop.create_future()
        if not expected:
            self.done.set_result({})

    def report(self, place: Place, error: DeliveryError | None, message: KafkaMessage) -> None:
        """One message's delivery report (the producer's thread)."""
        if error is not None:
            self._failure = self._failure or f"{place[0]}[{place[1]}]: {error.str()}"
        else:
            offset = message.offset()
            if offset is not None and offset > self._ends.get(place, -1):
                self._ends[place] = offset
        if self._counted():
            self._loop.call_soon_threadsafe(self._settle)

    def fail(self, place: Place, why: str) -> None:
        """A message that was never queued (the event loop)."""
        self._failure = self._failure or f"{place[0]}[{place[1]}]: {why}"
        if self._counted():
            self._settle()

    def _counted(self) -> bool:
        """Count one report in; whether it was the last."""
        with self._counting:
            self._waiting -= 1
            return not self._waiting

    def _settle(self) -> None:
        if self.done.done():  # abandoned by its caller
            return
        if self._failure is not None:
            self.done.set_exception(KafkaError(self._failure))
        else:
            self.done.set_result(self._ends)
