"""One send path: everything the stages produce, as record batches through one producer.

Faust's own send path costs about 300 µs a message here (its buffer, futures and sensors per
record); a record batch built with aiokafka's ``create_batch`` and sent with ``send_batch``
costs a few µs a record. An :class:`Outbox` collects what a stage produces between two flushes,
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
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import ProducerClosed
from aiokafka.structs import RecordMetadata

from app.runtime.batches import MAX_BATCH_BYTES, MAX_RECORD_BYTES, Message, Place, packed

log = logging.getLogger(__name__)

_BATCH_BYTES = 1_000_000  # one record batch: within message.max.bytes (1,048,588)


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
    """alertflow's producer: record batches per partition, ``acks=all``."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    compression_type=None,  # lz4 cost 10% of a stage's CPU; the broker is local
                    linger_ms=2,
                    max_batch_size=_BATCH_BYTES,
                    max_request_size=_BATCH_BYTES + 48_000,
                    request_timeout_ms=10_000,
                    enable_idempotence=False,
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def send(self, messages: dict[Place, list[Message]]) -> dict[Place, int]:
        """Send every message; return each place's last offset once all are acknowledged.

        A producer that was closed (the worker shut its services down and up again) is
        replaced by a new one; what failed is for the caller to send again.
        """
        try:
            return await self._send(await self._started(), messages)
        except ProducerClosed:
            self._producer = None
            return await self._send(await self._started(), messages)

    async def _send(
        self, producer: AIOKafkaProducer, messages: dict[Place, list[Message]]
    ) -> dict[Place, int]:
        pending: list[tuple[Place, asyncio.Future[RecordMetadata], int]] = []
        for (topic, partition), queued in messages.items():
            for batch, count in _batches(producer, queued):
                future = await producer.send_batch(batch, topic, partition=partition)
                pending.append(((topic, partition), future, count))
        ends: dict[Place, int] = {}
        for place, future, count in pending:
            metadata = await future
            ends[place] = max(ends.get(place, -1), metadata.offset + count - 1)
        return ends

    async def stop(self) -> None:
        """Flush and close the connection."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def _batches(
    producer: AIOKafkaProducer, messages: Iterable[Message]
) -> Iterable[tuple[object, int]]:
    """``messages`` in record batches that each fit one request."""
    batch = producer.create_batch()
    count = 0
    for key, value, timestamp in messages:
        if batch.append(key=key, value=value, timestamp=timestamp) is None:
            yield batch, count
            batch, count = producer.create_batch(), 0
            if batch.append(key=key, value=value, timestamp=timestamp) is None:
                raise RecordTooLarge(f"a message of {len(value or b''):,} bytes")
        count += 1
    if count:
        yield batch, count
