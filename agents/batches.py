"""Batch messages between the stages: the records bound for one partition, in one Kafka message.

A stage that sent each record as a message of its own paid Faust's per-message cost at both
ends of every hop; a batch pays it once. A batch is the JSON object ``{"batch": [[key, value],
...]}``, sent to the partition the records' keys hash to with Kafka's default partitioner
(murmur2), so every record of a batch lives where a keyed message would have: tables keyed
like the stream keep writing to the partition (and changelog) that owns the key. A plain
record (no ``batch`` field) on the same topic is read as a batch of one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import faust
import orjson
from aiokafka.partitioner import murmur2

from app.topics import PARTITIONS

MAX_BATCH_BYTES = 512 * 1024  # below the producer's and the broker's 1 MB message limit
_OPEN, _SEP, _CLOSE = b'{"batch":[', b",", b"]}"


def partition_of(key: str, partitions: int = PARTITIONS) -> int:
    """The partition Kafka's default partitioner gives ``key``.

    >>> [partition_of(k, 4) for k in ("a", "b", "tenant-1")] == [
    ...     (murmur2(k.encode()) & 0x7FFFFFFF) % 4 for k in ("a", "b", "tenant-1")]
    True
    """
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def unpack(key: Any, value: Any) -> Iterable[tuple[Any, Any]]:
    """The (key, value) records a message carries: a batch's records, or the message itself.

    >>> list(unpack(None, {"batch": [["t1", {"id": "a"}], ["t2", {"id": "b"}]]}))
    [('t1', {'id': 'a'}), ('t2', {'id': 'b'})]
    >>> list(unpack(None, b'{"batch":[["t1",1]]}')), list(unpack("k", {"id": "a"}))
    ([('t1', 1)], [('k', {'id': 'a'})])
    """
    if isinstance(value, bytes) and value.startswith(_OPEN):
        value = orjson.loads(value)
    if isinstance(value, dict) and isinstance(value.get("batch"), list):
        return ((item_key, item) for item_key, item in value["batch"])
    return ((key, value),)


class Outbox:
    """The records a stage emitted, grouped by topic and partition until :meth:`flush`."""

    def __init__(self) -> None:
        self._topics: dict[str, faust.TopicT] = {}
        self._pending: dict[tuple[str, int], tuple[list[bytes], list[float]]] = {}

    def add(self, topic: faust.TopicT, key: str, value: Any, timestamp: float | None) -> None:
        """Queue one record; it is sent with the others of its partition."""
        name = topic.get_topic_name()
        self._topics[name] = topic
        items, times = self._pending.setdefault((name, partition_of(key)), ([], []))
        items.append(orjson.dumps([key, value]))
        if timestamp is not None:
            times.append(timestamp)

    async def flush(self) -> None:
        """Send every queued record, as few messages as the size limit allows."""
        pending, self._pending = self._pending, {}
        for (name, partition), (items, times) in pending.items():
            for batch in _chunks(items):
                await self._topics[name].send(
                    partition=partition,
                    value=_OPEN + _SEP.join(batch) + _CLOSE,
                    value_serializer="raw",
                    timestamp=max(times) if times else None,
                )


def _chunks(items: list[bytes]) -> Iterable[list[bytes]]:
    """``items`` in runs of at most ``MAX_BATCH_BYTES`` (a larger item goes alone).

    >>> [len(c) for c in _chunks([b"x" * 300_000] * 3)]
    [1, 1, 1]
    >>> [len(c) for c in _chunks([b"x"] * 5)]
    [5]
    """
    chunk: list[bytes] = []
    size = 0
    for item in items:
        if chunk and size + len(item) > MAX_BATCH_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield chunk
