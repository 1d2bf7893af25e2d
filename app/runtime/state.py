"""A stage's tables: RocksDB rows with a changelog, read and written per partition as JSON.

A :class:`StateTable` is a Faust table (RocksDB store, changelog topic, recovery on assignment)
whose rows a stage reads and writes through :class:`Rows`, the view of one handler call: reads
see the call's own writes; when the call succeeded its writes go to the store of the partition
being handled and, as changelog rows, to the stage's :class:`~app.runtime.outbox.Outbox` — so a
row rewritten by every record of a batch is written once. A failed call writes nothing.

Values are JSON (orjson) both in RocksDB and on the changelog, so Faust's recovery, which
copies changelog messages into the store as they are, restores exactly what was written.
"""

from __future__ import annotations

from typing import Any

import faust
import orjson
from faust.types import TP

from app.runtime.outbox import Outbox

_DELETED = object()

# Per RocksDB database (one per table and partition, dozens per worker): Faust's defaults are
# 64 MB x 3 write buffers and a 2 GB block cache each, which alone grow a worker past 1 GB.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024 * 1024,
    "block_cache_size": 4 * 1024 * 1024,
    "block_cache_compressed_size": 1024 * 1024,
}


class StateTable:
    """A table of JSON rows keyed by ``str``, partitioned like the stream that writes it."""

    def __init__(self, app: faust.App, name: str, partitions: int, help: str) -> None:
        self.name = name
        self.partitions = partitions
        self.table: faust.Table = app.Table(
            name,
            schema=faust.Schema(
                key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
            ),
            partitions=partitions,
            help=help,
            options=dict(ROCKSDB_OPTIONS),  # a copy: the store pops keys from it
        )

    @property
    def changelog(self) -> str:
        """The name of the table's changelog topic."""
        return str(self.table.changelog_topic.get_topic_name())

    def read(self, key: str) -> Any:
        """The row, or ``None``: in a stage from the partition being handled, elsewhere (a web
        view) from whichever of this worker's partitions holds it."""
        raw = self.table.data.get(key.encode())
        return None if raw is None else orjson.loads(raw)

    def written(self, partition: int, last_offset: int) -> None:
        """Note that the changelog holds this worker's writes up to ``last_offset``."""
        self.table.data.set_persisted_offset(TP(self.changelog, partition), last_offset)


class Rows:
    """The rows of one table as one handler call sees them; its writes until :meth:`commit`."""

    def __init__(self, table: StateTable) -> None:
        self.table = table
        self._writes: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        """The row as this call left it, else as stored, else ``default``."""
        if key in self._writes:
            value = self._writes[key]
            return default if value is _DELETED else value
        found = self.table.read(key)
        return default if found is None else found

    def put(self, key: str, value: Any) -> None:
        """Write a row (JSON-serialisable)."""
        self._writes[key] = value

    def delete(self, key: str) -> None:
        """Delete a row (nothing happens when it does not exist)."""
        self._writes[key] = _DELETED

    def commit(self, partition: int, outbox: Outbox) -> None:
        """Write the rows to the store and queue their changelog messages."""
        encoded = [
            (key.encode(), None if value is _DELETED else orjson.dumps(value))
            for key, value in self._writes.items()
        ]
        self._writes.clear()
        changelog = self.table.changelog
        for raw_key, raw in encoded:  # every row is checked before any is written
            outbox.row(changelog, partition, raw_key, raw)
        store = self.table.table.data
        for raw_key, raw in encoded:
            if raw is None:
                del store[raw_key]
            else:
                store[raw_key] = raw
