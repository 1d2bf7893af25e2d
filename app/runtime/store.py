"""The RocksDB store of alertflow's tables: Faust's, with raw reads and writes per partition.

Faust's store answers ``store[key]`` through its serializer registry and looks the partition
up from the current event on every call (about 8 µs a read here); a stage that already knows
its partition and handles JSON bytes itself reads a row in about 1 µs with :meth:`RowStore.get_raw`.
Everything else — one RocksDB database per partition, recovery from the changelog, persisted
offsets — is Faust's own. Registered as the ``rowstore://`` store through Faust's
``faust.stores`` plugin entry point (pyproject.toml).

Every write to a partition's database — rows, the persisted changelog offset, Faust's recovery —
skips RocksDB's write-ahead log, as Kafka Streams' stores do: the changelog is the log. A crash
loses the writes since the last memtable flush, rows and offset together (one column family,
flushed in order), and recovery replays the changelog from the offset that survived. A write
costs a third of what it costs with the log (6.7 against 17.4 µs for four 1.5 kB rows here).

A stage's own writes never wait inside RocksDB: where RocksDB would stall them (its memtables
full while a flush cannot finish, as on a full disk) they fail at once, and the stage holds its
message and tries again (``app.runtime.stage``), with the event loop free meanwhile. A write that
waited there held the whole worker, and on a full disk it could wait for good. Faust's recovery
writes as RocksDB intends, waiting out a stall.

A rebalance lets go of the revoked partitions' databases without Faust's full collection per
table (:meth:`RowStore.revoke_partitions`): a database closes when its last reference goes.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

from faust.stores.rocksdb import Store
from faust.types import TP, CollectionT
from rocksdict import DbClosedError, Rdict, WriteBatch, WriteOptions

MEMORY_PROPERTIES = {  # kind → RocksDB property
    "memtables": "rocksdb.size-all-mem-tables",
    "block_cache": "rocksdb.block-cache-usage",
    "table_readers": "rocksdb.estimate-table-readers-mem",
}


class StorageError(OSError):
    """RocksDB could not read or write (a full or failing disk): not the record's fault.

    The partition's database stays open: without the write-ahead log RocksDB takes a full disk
    as a soft error and writes again by itself once there is room, keeping what it held in
    memory (closing it would lose that). The same write succeeds then.
    """


def unlogged(*, wait: bool) -> WriteOptions:
    """Write options without the write-ahead log that wait out a RocksDB write stall or, with
    ``wait=False``, fail at once (see the module's docstring)."""
    options = WriteOptions()
    options.disable_wal = True  # type: ignore[method-assign,assignment]  # a property (stub: method)
    options.no_slowdown = not wait
    return options


STAGE_WRITES = unlogged(wait=False)
# how RocksDB's errors that are the disk's fault begin: an I/O error, damaged files, a refused stall
STORAGE_FAULTS = ("IO error", "Corruption", "Result incomplete")


class RowStore(Store):
    """A Faust RocksDB store with raw access to the database of one partition."""

    def _open_for_partition(self, partition: int) -> Rdict:
        """Faust's database of ``partition``, written without the write-ahead log. Where this
        process still holds it open — a database let go at a rebalance that a reference cycle
        keeps alive — one full collection frees it first."""
        try:
            db: Rdict = super()._open_for_partition(partition)
        except Exception as exc:
            if "lock hold by current process" not in str(exc):
                raise
            gc.collect()
            db = super()._open_for_partition(partition)
        db.set_write_options(unlogged(wait=True))
        return db

    def revoke_partitions(self, table: CollectionT, tps: set[TP]) -> None:
        """Let go of the databases of revoked partitions, as Faust does, without its full
        collection per table at every rebalance (one per table, even a table that lost nothing;
        each holds the whole worker, longer as its heap grows). A database nothing else holds
        closes as it is let go; :meth:`_open_for_partition` collects in the rare case that
        something still does."""
        for tp in tps:
            if tp.topic not in table.changelog_topic.topics:
                continue
            if self._dbs.pop(tp.partition, None) is not None:
                self.logger.info("closing db %s partition %s", tp.topic, tp.partition)

    def get_raw(self, partition: int, key: bytes) -> bytes | None:
        """The stored bytes of ``key`` in ``partition``, or ``None``."""
        with self._guarded(partition):
            value: bytes | None = self._db_for_partition(partition).get(key)
        return value

    def write_raw(self, partition: int, rows: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Store each ``(key, value)`` in ``partition`` (``None`` deletes the key), all in one
        atomic RocksDB write."""
        batch = WriteBatch(raw_mode=True)
        for key, value in rows:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        with self._guarded(partition):
            self._db_for_partition(partition).write(batch, STAGE_WRITES)

    def note_offset(self, partition: int, offset: int) -> None:
        """Note the changelog offset the partition's rows are written up to, as Faust's
        :meth:`set_persisted_offset` does, without waiting out a stall."""
        self.write_raw(partition, [(self.offset_key, str(offset).encode())])

    @contextmanager
    def _guarded(self, partition: int) -> Iterator[None]:
        """Turn RocksDB's I/O errors and refused stalls into :class:`StorageError`."""
        try:
            yield
        except Exception as exc:
            if not str(exc).startswith(STORAGE_FAULTS):
                raise
            raise StorageError(f"{self.table_name} partition {partition}: {exc}") from exc

    def memory(self) -> dict[str, int]:
        """Bytes RocksDB holds in memory for this table's open databases, by kind."""
        found = dict.fromkeys(MEMORY_PROPERTIES, 0)
        for db in list(self._dbs.values()):
            with suppress(DbClosedError):  # closed by a rebalance meanwhile: it holds nothing
                for kind, name in MEMORY_PROPERTIES.items():
                    found[kind] += db.property_int_value(name) or 0
        return found

    def find_raw(self, key: bytes) -> bytes | None:
        """The stored bytes of ``key`` in whichever partition of this worker holds it."""
        for db in list(self._dbs.values()):
            value: bytes | None = db.get(key)
            if value is not None:
                return value
        return None

    def items_raw(self, partition: int | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Every stored row of ``partition``, else of every active partition of this worker."""
        if partition is None:
            yield from self._iteritems()
        else:
            with self._guarded(partition):
                yield from self._visible_items(self._db_for_partition(partition))


# Its chatter is Faust's store's (set after the class: mode gives each subclass its module's).
RowStore.logger = logging.getLogger(Store.__module__)
