"""A stage's tables: RocksDB rows with a changelog, read and written per partition as JSON.

A :class:`StateTable` is a Faust table (RocksDB store, changelog topic, recovery on assignment)
whose rows a stage reads and writes through :class:`Rows`, the view of one handler call on one
partition: reads see the call's own writes; when the call succeeded its writes go, as changelog
rows, to the stage's :class:`~app.runtime.outbox.Outbox` — so a row rewritten by every record of
a batch is written once. A failed call writes nothing.

A row reaches RocksDB only once the broker acknowledged its changelog message (with the
window's outputs); until then reads see it in memory. So the store never holds a row that
was not sent: the records of a window that was never sent — the worker killed, or stopped,
before — are read again over rows as they were, and applied as the first time.

Rows are JSON (orjson) both in RocksDB and on the changelog, so Faust's recovery, which copies
changelog messages into the store as they are, restores exactly what was written. The most
recently used rows are kept decoded in memory (``CACHE_ROWS`` per table): **a row a stage gets
is shared, never to be changed in place** — build a new value and ``put`` it.

A change nobody needs after a crash — a re-send's count and last-seen time — may be *deferred*
(:meth:`Rows.defer`): it is written with the row's next real write, or by the first flush
``DEFER_SECONDS`` after it was made. A crash, or a rebalance (which drops them), loses at most
those seconds of counting, never a decision.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from typing import Any, Protocol, cast

import faust
import orjson
from faust.types import TableT

from app.runtime.outbox import Outbox
from app.runtime.store import RowStore, StorageError

log = logging.getLogger(__name__)

CACHE_ROWS = 10_000  # decoded rows kept per table (20,000: 1,019 MB RSS at 1M fingerprints)
DEFER_SECONDS = 10.0
_DELETED = object()

Place = tuple[int, str]  # partition, key
Unstored = tuple[Any, bytes, bytes | None]  # a row on its way to RocksDB: value, key, JSON

# Per RocksDB database (one per table and partition, dozens per worker): Faust's defaults are
# 64 MB x 3 write buffers and a 2 GB block cache each, which alone grow a worker past 1 GB.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024 * 1024,
    "block_cache_size": 4 * 1024 * 1024,
    "block_cache_compressed_size": 1024 * 1024,
}

_tables: list[StateTable] = []


class StateTable:
    """A table of JSON rows keyed by ``str``, partitioned like the stream that writes it."""

    def __init__(self, app: faust.App, name: str, partitions: int, help: str) -> None:
        self.name = name
        self.partitions = partitions
        self.table: TableT[bytes, bytes] = app.Table(
            name,
            key_type=bytes,  # bytes: Faust's "raw" serializer, both for keys and values
            value_type=bytes,
            store=f"rowstore:{name}",  # app.runtime.store.RowStore (a URL with a path: truthy)
            partitions=partitions,
            help=help,
            options=dict(ROCKSDB_OPTIONS),  # a copy: the store pops keys from it
        )
        self._cache: OrderedDict[Place, Any] = OrderedDict()
        self._deferred: dict[Place, tuple[Any, float]] = {}
        self._unsent: dict[Place, Unstored] = {}  # changelog message not acknowledged yet
        self._unstored: dict[Place, Unstored] = {}  # acknowledged; RocksDB refused it (full disk)
        _tables.append(self)

    @property
    def changelog(self) -> str:
        """The name of the table's changelog topic."""
        return str(self.table.changelog_topic.get_topic_name())

    @property
    def store(self) -> RowStore:
        """The table's RocksDB store (one database per partition)."""
        return cast(RowStore, self.table.data)

    def read(self, partition: int, key: str) -> Any:
        """The row in ``partition`` (shared: do not change it), or ``None``."""
        place = (partition, key)
        if place in self._deferred:
            return self._deferred[place][0]
        pending = self._unsent.get(place) or self._unstored.get(place)
        if pending is not None:
            return None if pending[0] is _DELETED else pending[0]
        cache = self._cache
        if place in cache:
            cache.move_to_end(place)
            return cache[place]
        raw = self.store.get_raw(partition, key.encode())
        value = None if raw is None else orjson.loads(raw)
        self._remember(place, value)
        return value

    def find(self, key: str) -> Any:
        """The row in whichever of this worker's partitions holds it, or ``None`` (views)."""
        for partition in range(self.partitions):
            pending = self._unsent.get((partition, key)) or self._unstored.get((partition, key))
            if pending is not None:
                return None if pending[0] is _DELETED else pending[0]
        raw = self.store.find_raw(key.encode())
        return None if raw is None else orjson.loads(raw)

    def items(self, partition: int | None = None) -> Iterator[tuple[str, Any]]:
        """Every row of ``partition``, else of this worker's active partitions: a scan, for
        views and rebuilds only (rows on their way to the store as they will be there)."""
        pending = {
            key: row[0]
            for rows in (self._unstored, self._unsent)
            for (where, key), row in rows.items()
            if partition is None or where == partition
        }
        for raw_key, raw in self.store.items_raw(partition):
            key = raw_key.decode()
            if key not in pending:
                yield key, orjson.loads(raw)
        for key, value in pending.items():
            if value is not _DELETED:
                yield key, value

    def written(self, partition: int, last_offset: int) -> None:
        """Note that the changelog holds this worker's writes up to ``last_offset`` — and the
        store too: not while rows of the partition wait for RocksDB (recovery replays them)."""
        if not any(where == partition for where, _ in self._unstored):
            self.store.note_offset(partition, last_offset)

    def write(self, outbox: Outbox, writes: dict[Place, Any]) -> None:
        """Queue rows (``_DELETED`` deletes) as changelog messages, and for the store once the
        broker acknowledged them (:meth:`_store_sent`); every row is checked against Kafka's
        message size before any is queued."""
        encoded = [
            (place, place[1].encode(), None if value is _DELETED else orjson.dumps(value))
            for place, value in writes.items()
        ]
        changelog = self.changelog
        for (partition, _), key, raw in encoded:
            outbox.row(changelog, partition, key, raw)
        unsent = self._unsent
        for (place, key, raw), value in zip(encoded, writes.values(), strict=True):
            self._deferred.pop(place, None)
            unsent[place] = (value, key, raw)
            self._remember(place, None if value is _DELETED else value)
        outbox.after_sent(self._store_sent)

    def store_unstored(self) -> None:
        """Write to RocksDB the acknowledged rows it refused before, one batch per partition;
        raises :class:`~app.runtime.store.StorageError` while it still refuses them."""
        if not self._unstored:
            return
        batches: dict[int, dict[Place, tuple[bytes, bytes | None]]] = defaultdict(dict)
        for place, (_, key, raw) in self._unstored.items():
            batches[place[0]][place] = (key, raw)
        for partition, batch in batches.items():
            self.store.write_raw(partition, batch.values())
            for place in batch:
                del self._unstored[place]

    def _store_sent(self) -> None:
        """The broker acknowledged the queued rows: into RocksDB with them (kept in memory,
        and read there, while it refuses them: the stage holds before its next call)."""
        if not self._unsent:
            return  # stored by an earlier call's callback of the same send
        self._unstored.update(self._unsent)
        self._unsent = {}
        try:
            self.store_unstored()
        except StorageError as error:
            log.warning("rows of %s wait for the store: %s", self.name, error)

    def defer(self, place: Place, value: Any) -> None:
        """Hold a counting-only change of a row until its next write or ``DEFER_SECONDS``."""
        since = self._deferred[place][1] if place in self._deferred else time.monotonic()
        self._deferred[place] = (value, since)

    def write_due(self, outbox: Outbox) -> None:
        """Write the deferred rows held for ``DEFER_SECONDS`` (oldest first)."""
        due = time.monotonic() - DEFER_SECONDS
        ready: dict[Place, Any] = {}
        for place, (value, since) in self._deferred.items():
            if since > due:
                break  # insertion order is age order
            ready[place] = value
        if ready:
            self.write(outbox, ready)

    def forget(self) -> None:
        """Drop cached and deferred rows: this worker's partitions are moving (rows on their
        way to the store stay: their changelog messages are, or will be, acknowledged)."""
        self._cache.clear()
        self._deferred.clear()

    def _remember(self, place: Place, value: Any) -> None:
        cache = self._cache
        cache[place] = value
        cache.move_to_end(place)
        if len(cache) > CACHE_ROWS:
            cache.popitem(last=False)


def changelogs() -> dict[str, int]:
    """Name → partition count of the changelog of every table declared so far."""
    return {table.changelog: table.partitions for table in _tables}


def store_memory() -> dict[str, int]:
    """Bytes RocksDB holds in memory for every table's open databases, by kind."""
    total: dict[str, int] = {}
    for table in _tables:
        for kind, size in table.store.memory().items():
            total[kind] = total.get(kind, 0) + size
    return total


def forget_all() -> None:
    """Drop every table's cached and deferred rows (partitions were revoked or assigned)."""
    for table in _tables:
        table.forget()


class RowAccess(Protocol):
    """What rules see of a table: the rows of one partition, by key (:class:`Rows` in a stage,
    :class:`MemoryRows` in a replay without Kafka). Rows they get are shared: never changed in
    place."""

    def get(self, key: str, default: Any = None) -> Any:
        """The row, else ``default``."""

    def put(self, key: str, value: Any) -> None:
        """Write a row."""

    def defer(self, key: str, value: Any) -> None:
        """Set a row whose change only counts (see the module's docstring)."""

    def delete(self, key: str) -> None:
        """Delete a row."""


class MemoryRows:
    """Rows in a dict: a table for replays and tests that run the stages' rules without Kafka.

    >>> rows = MemoryRows()
    >>> rows.put("a", 1); rows.delete("b"); rows.get("a"), rows.get("b", 0), len(rows.data)
    (1, 0, 1)
    """

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        """The row, else ``default``."""
        return self.data.get(key, default)

    def put(self, key: str, value: Any) -> None:
        """Write a row."""
        self.data[key] = value

    def defer(self, key: str, value: Any) -> None:
        """Write a row whose change only counts: in memory, at once."""
        self.data[key] = value

    def delete(self, key: str) -> None:
        """Delete a row (nothing happens when it does not exist)."""
        self.data.pop(key, None)


class Rows:
    """The rows of one table in one partition as one handler call sees them; its writes until
    :meth:`commit`."""

    def __init__(self, table: StateTable, partition: int) -> None:
        self.table = table
        self.partition = partition
        self._writes: dict[str, Any] = {}
        self._deferred: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        """The row as this call left it, else as stored, else ``default`` (do not change it)."""
        if key in self._writes:
            value = self._writes[key]
            return default if value is _DELETED else value
        if key in self._deferred:
            return self._deferred[key]
        found = self.table.read(self.partition, key)
        return default if found is None else found

    def put(self, key: str, value: Any) -> None:
        """Write a row (JSON-serialisable)."""
        self._deferred.pop(key, None)
        self._writes[key] = value

    def defer(self, key: str, value: Any) -> None:
        """Set a row whose change only counts: written with its next write or within
        ``DEFER_SECONDS`` (see the module's docstring)."""
        if key in self._writes:
            self._writes[key] = value
        else:
            self._deferred[key] = value

    def delete(self, key: str) -> None:
        """Delete a row (nothing happens when it does not exist)."""
        self._deferred.pop(key, None)
        self._writes[key] = _DELETED

    def commit(self, outbox: Outbox) -> None:
        """Write the rows to the store and queue their changelog messages."""
        partition = self.partition
        if self._writes:
            self.table.write(outbox, {(partition, k): v for k, v in self._writes.items()})
        for key, value in self._deferred.items():
            self.table.defer((partition, key), value)
        self._writes.clear()
        self._deferred.clear()
