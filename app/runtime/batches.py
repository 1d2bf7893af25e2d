"""Batch messages between the stages: the records bound for one partition, in one message.

A stage that sent each record as a message of its own would pay Faust's per-message cost at
both ends of every hop; a batch pays it once. A batch is the JSON object ``{"batch": [[key,
value], ...]}``, sent to the partition its records' keys belong to
(:func:`app.runtime.partitions.partition_of`), so every record of a batch lives where a keyed
message would. A plain record (no ``batch`` field) on the same topic reads as a batch of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

MAX_BATCH_BYTES = 512 * 1024  # one batch message: well below the broker's 1 MB limit
MAX_RECORD_BYTES = 1_000_000  # key + value of one message: below the broker's 1 MB limit
_OPEN, _SEP, _CLOSE = b'{"batch":[', b",", b"]}"

Message = tuple[bytes | None, bytes | None, int | None]  # key, value, timestamp (ms)
Place = tuple[str, int]  # topic, partition


def item(key: str, value: Any) -> bytes:
    """One record of a batch, encoded.

    >>> item("t1", {"id": "a"})
    b'["t1",{"id":"a"}]'
    """
    return orjson.dumps([key, value])


def unpack(key: Any, value: Any) -> list[tuple[Any, Any]]:
    """The (key, value) records a message carries: a batch's records, or the message itself.

    >>> unpack(None, b'{"batch":[["t1",{"id":"a"}],["t2",{"id":"b"}]]}')
    [('t1', {'id': 'a'}), ('t2', {'id': 'b'})]
    >>> unpack(b"k", b'{"id":"a"}'), unpack("k", {"id": "a"})
    ([('k', {'id': 'a'})], [('k', {'id': 'a'})])
    """
    if isinstance(value, bytes | bytearray):
        value = orjson.loads(value)
    if isinstance(key, bytes):
        key = key.decode()
    if isinstance(value, dict) and isinstance(value.get("batch"), list):
        return [(item_key, record) for item_key, record in value["batch"]]
    return [(key, value)]


def pack(items: list[bytes]) -> Iterator[bytes]:
    """Batch messages holding ``items``, each at most ``MAX_BATCH_BYTES`` (a larger item alone).

    >>> list(pack([b"1"] * 3))
    [b'{"batch":[1,1,1]}']
    >>> len(list(pack([b"x" * 300_000] * 3)))
    3
    """
    for chunk in _chunks(items):
        yield _OPEN + _SEP.join(chunk) + _CLOSE


def _chunks(items: Iterable[bytes]) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    size = 0
    for encoded in items:
        if chunk and size + len(encoded) > MAX_BATCH_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        yield chunk


def packed(items: list[bytes]) -> list[Message]:
    """The batch messages (no key, the broker's time) that carry ``items``."""
    return [(None, value, None) for value in pack(items)]
