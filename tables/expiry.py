"""Incremental expiry of table rows in event time: hourly buckets, swept as time passes.

A stage lists each row that may expire in the bucket of the hour it expires in
(:meth:`Expiry.schedule`); each handler call sweeps the buckets whose hour has passed
(:meth:`Expiry.sweep`), a few rows at a time, never a scan. A bucket is a count and chunks of
``CHUNK`` keys, so listing a key rewrites two short rows, not the hour's whole list. A row
touched after it was listed is listed again in its new hour; the sweep asks the stage whether a
listed row is really due before deleting it. All rows are written in the partition being
handled: bucket keys carry the partition.

>>> from app.runtime.state import Rows
>>> class Memory(dict):
...     name = "t"
...     def read(self, partition, key): return self.get(key)
>>> rows = Rows(Memory(), 0)
>>> expiry = Expiry("\\x00x")
>>> expiry.schedule(rows, 0, "k1", due_ms=3_600_000 * 5 + 10, before_ms=None)
>>> rows.put("k1", {"due": 3_600_000 * 5 + 10})
>>> expiry.sweep(rows, 0, 3_600_000 * 5, lambda key, row: row["due"])  # first sweep: a start
[]
>>> expiry.sweep(rows, 0, 3_600_000 * 7, lambda key, row: row["due"])
['k1']
>>> rows.get("k1") is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.runtime.state import Rows

HOUR_MS = 3_600_000
CHUNK = 64  # keys per chunk row of a bucket
SWEEP_HOURS = 48  # buckets swept per call at most (a worker that was away catches up)


class Expiry:
    """The expiry buckets of one table, under keys starting with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _bucket(self, partition: int, hour: int) -> str:
        return f"{self.prefix}|{partition}|{hour}"

    def _position(self, partition: int) -> str:
        return f"{self.prefix}|{partition}|swept"

    def schedule(
        self, rows: Rows, partition: int, key: str, due_ms: int, before_ms: int | None
    ) -> None:
        """List ``key`` in the bucket of the hour ``due_ms`` falls in, unless ``before_ms``
        (when it was listed last) falls in the same hour."""
        hour = due_ms // HOUR_MS
        if before_ms is not None and before_ms // HOUR_MS == hour:
            return
        bucket = self._bucket(partition, hour)
        count = rows.get(bucket, 0)
        chunk = f"{bucket}|{count // CHUNK}"
        rows.put(chunk, [*rows.get(chunk, []), key])
        rows.put(bucket, count + 1)

    def sweep(
        self,
        rows: Rows,
        partition: int,
        now_ms: int,
        due: Callable[[str, Any], int | None],
    ) -> list[str]:
        """Delete the listed rows of the hours before ``now_ms`` that are due by then
        (``due(key, row)``: the row's expiry time, or ``None`` for never); return their keys."""
        hour = now_ms // HOUR_MS
        position = self._position(partition)
        swept = rows.get(position)
        if swept is None:  # the partition's first sweep starts now
            rows.put(position, hour - 1)
            return []
        stop = min(hour - 1, swept + SWEEP_HOURS)
        if stop <= swept:
            return []
        deleted: list[str] = []
        for passed in range(swept + 1, stop + 1):
            for key in self._take(rows, self._bucket(partition, passed)):
                row = rows.get(key)
                if row is None:
                    continue
                when = due(key, row)
                if when is not None and when <= now_ms:
                    rows.delete(key)
                    deleted.append(key)
        rows.put(position, stop)
        return deleted

    def _take(self, rows: Rows, bucket: str) -> list[str]:
        """The keys listed in ``bucket``; the bucket and its chunks are deleted."""
        count = rows.get(bucket, 0)
        keys: list[str] = []
        for chunk in range(-(-count // CHUNK)):
            keys.extend(rows.get(f"{bucket}|{chunk}", []))
            rows.delete(f"{bucket}|{chunk}")
        rows.delete(bucket)
        return keys
