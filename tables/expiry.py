"""Incremental expiry of table rows in event time: hourly buckets, swept as time passes.

A stage lists each row that may expire in the bucket of the hour it expires in
(:meth:`Expiry.schedule`); each handler call sweeps the buckets whose hour has passed
(:meth:`Expiry.sweep`), a few rows at a time, never a scan. Buckets may be finer than an hour
(``bucket_ms``), and a stage may take the keys of the passed buckets to act on them itself
(:meth:`Expiry.take`) rather than have them deleted. A bucket is a head row holding its newest
keys (``tail``, fewer than ``CHUNK``) and the number of full chunk rows of ``CHUNK`` keys written
before them, so listing a key rewrites one short row, not the hour's whole list. A row
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

from collections.abc import Callable, Iterable
from typing import Any

from app.runtime.state import RowAccess

HOUR_MS = 3_600_000
CHUNK = 64  # keys per chunk row of a bucket
SWEEP_HOURS = 48  # buckets swept per call at most (a worker that was away catches up)


class Expiry:
    """The expiry buckets of one table, under keys starting with ``prefix``, each ``bucket_ms``
    of event time (an hour unless told), at most ``per_call`` of them swept per call."""

    def __init__(self, prefix: str, bucket_ms: int = HOUR_MS, per_call: int = SWEEP_HOURS) -> None:
        self.prefix = prefix
        self.bucket_ms = bucket_ms
        self.per_call = per_call

    def _bucket(self, partition: int, hour: int) -> str:
        return f"{self.prefix}|{partition}|{hour}"

    def position(self, partition: int) -> str:
        """Key of the row saying up to which bucket the partition's buckets were swept."""
        return f"{self.prefix}|{partition}|swept"

    def schedule(
        self, rows: RowAccess, partition: int, key: str, due_ms: int, before_ms: int | None
    ) -> None:
        """List ``key`` in the bucket ``due_ms`` falls in — or in the first bucket not swept
        yet, when that one was (a late or backfilled row is never left behind the sweep) —
        unless ``before_ms`` (when it was listed last) falls in the same bucket.

        >>> from app.runtime.state import MemoryRows
        >>> rows, hours = MemoryRows(), Expiry("h")
        >>> hours.take(rows, 0, 10 * HOUR_MS)  # swept up to hour 9
        []
        >>> hours.schedule(rows, 0, "late", due_ms=HOUR_MS, before_ms=None)
        >>> hours.take(rows, 0, 11 * HOUR_MS)
        ['late']
        """
        self.schedule_many(rows, partition, [(key, due_ms, before_ms)])

    def schedule_many(
        self, rows: RowAccess, partition: int, entries: Iterable[tuple[str, int, int | None]]
    ) -> None:
        """:meth:`schedule` for many ``(key, due_ms, before_ms)`` at once: each bucket touched
        is read and written once, not once per key.

        >>> from app.runtime.state import Rows
        >>> class Memory(dict):
        ...     name = "t"
        ...     def read(self, partition, key): return self.get(key)
        >>> rows = Rows(Memory(), 0)
        >>> Expiry("e").schedule_many(rows, 0, [(f"k{n}", 10, None) for n in range(70)])
        >>> rows.get("e|0|0"), len(rows.get("e|0|0|0")), rows.get("e|0|0|1")
        ({'chunks': 1, 'tail': ['k64', 'k65', 'k66', 'k67', 'k68', 'k69']}, 64, None)
        """
        first = (self.next_bucket_ms(rows, partition) or 0) // self.bucket_ms
        by_hour: dict[int, list[str]] = {}
        for key, due_ms, before_ms in entries:
            hour = max(due_ms // self.bucket_ms, first)
            if before_ms is None or before_ms // self.bucket_ms != hour:  # else listed there still
                by_hour.setdefault(hour, []).append(key)
        for hour, keys in by_hour.items():
            bucket = self._bucket(partition, hour)
            chunks, tail = _head(rows, bucket)
            tail = [*tail, *keys]
            while len(tail) >= CHUNK:
                rows.put(f"{bucket}|{chunks}", tail[:CHUNK])
                chunks, tail = chunks + 1, tail[CHUNK:]
            rows.put(bucket, {"chunks": chunks, "tail": tail})

    def sweep(
        self,
        rows: RowAccess,
        partition: int,
        now_ms: int,
        due: Callable[[str, Any], int | None],
    ) -> list[str]:
        """Delete the listed rows of the buckets before ``now_ms`` that are due by then
        (``due(key, row)``: the row's expiry time, or ``None`` for never); return their keys."""
        deleted: list[str] = []
        for key in self.take(rows, partition, now_ms):
            row = rows.get(key)
            if row is None:
                continue
            when = due(key, row)
            if when is not None and when <= now_ms:
                rows.delete(key)
                deleted.append(key)
        return deleted

    def take(self, rows: RowAccess, partition: int, now_ms: int) -> list[str]:
        """The keys listed in the buckets that passed before ``now_ms``'s bucket (each once:
        the buckets are deleted); the caller decides what is due.

        >>> from app.runtime.state import MemoryRows
        >>> rows, minutes = MemoryRows(), Expiry("m", bucket_ms=60_000)
        >>> minutes.take(rows, 0, 0)  # the first call only starts the partition's clock
        []
        >>> minutes.schedule(rows, 0, "k", due_ms=90_000, before_ms=None)
        >>> minutes.take(rows, 0, 119_999), minutes.take(rows, 0, 120_000)
        ([], ['k'])
        >>> minutes.take(rows, 0, 600_000), minutes.next_bucket_ms(rows, 0)
        ([], 600000)
        """
        hour = now_ms // self.bucket_ms
        position = self.position(partition)
        swept = rows.get(position)
        if swept is None:  # the partition's first sweep starts now
            rows.put(position, hour - 1)
            return []
        stop = min(hour - 1, swept + self.per_call)
        if stop <= swept:
            return []
        keys: list[str] = []
        for passed in range(swept + 1, stop + 1):
            keys += self._take(rows, self._bucket(partition, passed))
        rows.put(position, stop)
        return keys

    def next_bucket_ms(self, rows: RowAccess, partition: int) -> int | None:
        """Start of the first bucket not swept yet (``None`` before the first sweep): a row
        listed earlier than that would never be swept."""
        swept = rows.get(self.position(partition))
        return None if swept is None else (swept + 1) * self.bucket_ms

    def _take(self, rows: RowAccess, bucket: str) -> list[str]:
        """The keys listed in ``bucket``; the bucket and its chunks are deleted."""
        chunks, tail = _head(rows, bucket)
        keys: list[str] = []
        for chunk in range(chunks):
            keys.extend(rows.get(f"{bucket}|{chunk}", []))
            rows.delete(f"{bucket}|{chunk}")
        rows.delete(bucket)
        return keys + tail


def _head(rows: RowAccess, bucket: str) -> tuple[int, list[str]]:
    """A bucket's full chunk rows and its tail. A bucket written before heads held the tail is
    a count, its last chunk row partly filled: that chunk becomes the tail (its row deleted).

    >>> from app.runtime.state import MemoryRows
    >>> rows = MemoryRows()
    >>> rows.put("b", 66); rows.put("b|0", ["k"] * 64); rows.put("b|1", ["k64", "k65"])
    >>> _head(rows, "b"), sorted(rows.data)
    ((1, ['k64', 'k65']), ['b', 'b|0'])
    >>> _head(rows, "none")
    (0, [])
    """
    head = rows.get(bucket)
    if head is None:
        return 0, []
    if isinstance(head, int):
        chunks, last = divmod(head, CHUNK)
        tail = rows.get(f"{bucket}|{chunks}", []) if last else []
        if last:
            rows.delete(f"{bucket}|{chunks}")
        return chunks, tail
    return int(head["chunks"]), list(head["tail"])


class ExpiringRows:
    """The rows of one handler call, each read and written once, listed for expiry.

    Wraps a table's rows (:class:`~app.runtime.state.RowAccess`): a row is read from the table at
    most once per call and written back once, by :meth:`flush`; a written row that carries a
    ``due`` (event time in ms) is listed in ``expiry``'s bucket of that hour — or of the next
    hour to be swept, when that one was swept already (a late or backfilled alert's rows are not
    left behind the sweep) — unless it was already listed for the same hour when it was read.
    :meth:`sweep` deletes the rows whose hour passed. Rules get and put rows through it as
    through any row store.

    >>> from app.runtime.state import MemoryRows
    >>> table = MemoryRows()
    >>> rows = ExpiringRows(table, Expiry("\\x00x"), 0)
    >>> rows.put("k", {"due": HOUR_MS * 3 + 1}); rows.flush()
    >>> sorted(table.data)
    ['\\x00x|0|3', 'k']
    >>> later = ExpiringRows(table, Expiry("\\x00x"), 0)
    >>> later.sweep(HOUR_MS * 2), later.sweep(HOUR_MS * 5)  # a start, then the hours passed
    ([], ['k'])
    >>> later.flush(); sorted(table.data)
    ['\\x00x|0|swept']
    >>> late = ExpiringRows(table, Expiry("\\x00x"), 0)
    >>> late.put("old", {"due": 10}); late.flush(); sorted(table.data)  # hour 0: swept long ago
    ['\\x00x|0|5', '\\x00x|0|swept', 'old']
    """

    def __init__(self, rows: RowAccess, expiry: Expiry, partition: int) -> None:
        self.rows = rows
        self.expiry = expiry
        self.partition = partition
        self._read: dict[str, Any] = {}
        self._listed: dict[str, int | None] = {}  # key → due it is listed for
        self._written: set[str] = set()
        self._deferred: set[str] = set()  # written rows whose change only counts

    def get(self, key: str, default: Any = None) -> Any:
        """The row as this call left it, else as stored, else ``default``."""
        if key not in self._read:
            value = self.rows.get(key)
            self._read[key] = value
            self._listed[key] = value.get("due") if isinstance(value, dict) else None
        value = self._read[key]
        return default if value is None else value

    def put(self, key: str, value: Any) -> None:
        """Write a row (at :meth:`flush`)."""
        if key not in self._read:
            self.get(key)
        self._read[key] = value
        self._written.add(key)
        self._deferred.discard(key)

    def defer(self, key: str, value: Any) -> None:
        """Write a row whose change only counts (at :meth:`flush`, as the table defers it)."""
        self.put(key, value)
        self._deferred.add(key)

    def delete(self, key: str) -> None:
        """Delete a row (at :meth:`flush`)."""
        self.put(key, None)

    def sweep(self, now_ms: int) -> list[str]:
        """Delete the listed rows that are due by ``now_ms`` (their ``due``); their keys."""
        return self.expiry.sweep(self, self.partition, now_ms, _due_of)

    def flush(self) -> None:
        """List the written rows that carry a ``due``, then write every row to the table."""
        entries: list[tuple[str, int, int | None]] = []
        for key in self._written:
            value = self._read[key]
            if isinstance(value, dict) and isinstance(value.get("due"), int):
                entries.append((key, value["due"], self._listed[key]))
                self._listed[key] = value["due"]
        self.expiry.schedule_many(self, self.partition, entries)
        for key in self._written:
            value = self._read[key]
            if value is None:
                self.rows.delete(key)
            elif key in self._deferred:
                self.rows.defer(key, value)
            else:
                self.rows.put(key, value)
        self._written.clear()
        self._deferred.clear()


def _due_of(key: str, row: Any) -> int | None:
    return row.get("due") if isinstance(row, dict) else None
