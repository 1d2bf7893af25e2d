"""The RocksDB store of alertflow's tables: Faust's, with raw reads and writes per partition.

Faust's store answers ``store[key]`` through its serializer registry and looks the partition
up from the current event on every call (about 8 µs a read here); a stage that already knows
its partition and handles JSON bytes itself reads a row in about 1 µs with :meth:`RowStore.get_raw`.
Everything else — one RocksDB database per partition, recovery from the changelog, persisted
offsets — is Faust's own. Registered as the ``rowstore://`` store through Faust's
``faust.stores`` plugin entry point (pyproject.toml).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

from faust.stores.rocksdb import Store
from rocksdict import DbClosedError, WriteBatch

MEMORY_PROPERTIES = {  # kind → RocksDB property
    "memtables": "rocksdb.size-all-mem-tables",
    "block_cache": "rocksdb.block-cache-usage",
    "table_readers": "rocksdb.estimate-table-readers-mem",
}


class StorageError(OSError):
    """RocksDB could not read or write (a full or failing disk): not the record's fault.

    The database of the partition is closed; the next access opens it again, which succeeds
    once the disk is back.
    """


class RowStore(Store):
    """A Faust RocksDB store with raw access to the database of one partition."""

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
            self._db_for_partition(partition).write(batch)

    @contextmanager
    def _guarded(self, partition: int) -> Iterator[None]:
        """Turn RocksDB's I/O errors into :class:`StorageError` and let go of the database:
        after a failed write RocksDB refuses every later one until it is opened again."""
        try:
            yield
        except Exception as exc:
            if not str(exc).startswith(("IO error", "Corruption")):
                raise
            broken = self._dbs.pop(partition, None)
            with suppress(Exception):  # "Writer has previous error": let go of it all the same
                broken.close()
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
