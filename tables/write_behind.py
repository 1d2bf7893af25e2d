"""Write-behind for a stage's tables: a row written many times in a batch is written once.

Every Faust table write is a RocksDB put, a changelog message and its bookkeeping; a stage
that rewrites the same rows for each record of a batch (a tenant's correlation head, an
incident, a partition's bookkeeping) pays that per record. A :class:`WriteBehind` keeps the
rows the stage wrote during one batch, answers reads from them, and writes each to the table
once when the stage's batch ends (:class:`Batch`) — each in the Faust event it was last written
in, so it lands in that event's partition and changelog, and before the batch's events are
acknowledged. A batch that fails before its end writes nothing: its events are not
acknowledged, so they are read again.

A change nobody needs after a crash — a re-send's count and last-seen time — may be
*deferred* (:meth:`WriteBehind.defer`): it is written with the row's next write, or at the end
of the first batch ``DEFER_SECONDS`` after it was made, so a row re-sent every few seconds is
written a few times a minute instead of at every re-send. A crash (or a rebalance, which drops
them) loses at most those seconds of counting.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import faust
from faust.streams import _current_event

DEFER_SECONDS = 10.0

_DELETED = object()
_MISSING = object()
_touched: ContextVar[set[WriteBehind] | None] = ContextVar("touched", default=None)
_instances: list[WriteBehind] = []


class WriteBehind:
    """The rows of ``table`` as the running batch left them (the dict methods stages use)."""

    def __init__(self, table: faust.Table) -> None:
        self.table = table
        self._dirty: dict[Any, tuple[Any, faust.EventT]] = {}
        self._deferred: dict[Any, tuple[Any, faust.EventT, float]] = {}
        _instances.append(self)

    def get(self, key: Any, default: Any = None) -> Any:
        """The row, as written in this batch or else as the table has it."""
        if key in self._dirty:
            value = self._dirty[key][0]
            return default if value is _DELETED else value
        if key in self._deferred:
            return self._deferred[key][0]
        return self.table.get(key, default)

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: Any) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def __setitem__(self, key: Any, value: Any) -> None:
        self._write(key, value)

    def __delitem__(self, key: Any) -> None:
        if key not in self:
            raise KeyError(key)
        self._write(key, _DELETED)

    def pop(self, key: Any, default: Any = None) -> Any:
        """Delete the row; return it, or ``default`` when there was none."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            return default
        self._write(key, _DELETED)
        return value

    def defer(self, key: Any, value: Any) -> None:
        """Set the row, but write it only with its next write or ``DEFER_SECONDS`` from now."""
        if key in self._dirty:
            self._write(key, value)
            return
        event = _event(self.table)
        since = self._deferred[key][2] if key in self._deferred else time.monotonic()
        self._deferred[key] = (value, event, since)
        touched = _touched.get()
        if touched is not None:
            touched.add(self)

    def items(self) -> Iterator[tuple[Any, Any]]:
        """Every row of the table (this batch's writes are written first)."""
        self.flush()
        return iter(self.table.items())

    def flush(self) -> None:
        """Write the rows of this batch to the table, each in the event that wrote it last."""
        dirty, self._dirty = self._dirty, {}
        due = time.monotonic() - DEFER_SECONDS
        while self._deferred:  # oldest first: stop at the first that is not due
            key = next(iter(self._deferred))
            value, event, since = self._deferred[key]
            if since > due:
                break
            del self._deferred[key]
            dirty.setdefault(key, (value, event))
        for key, (value, event) in dirty.items():
            with in_event(event):
                if value is _DELETED:
                    self.table.pop(key, None)
                else:
                    self.table[key] = value

    def discard(self) -> None:
        """Forget the writes not made yet (the batch failed, or the partitions moved)."""
        self._dirty.clear()
        self._deferred.clear()

    def _write(self, key: Any, value: Any) -> None:
        event = _event(self.table)
        self._deferred.pop(key, None)
        touched = _touched.get()
        if touched is None:  # not in a stage's batch: write through
            self._dirty[key] = (value, event)
            self.flush()
            return
        touched.add(self)
        self._dirty[key] = (value, event)


def _event(table: faust.Table) -> faust.EventT:
    event = faust.current_event()
    if event is None:
        raise RuntimeError(f"{table.name}: written outside of a stream event")
    return event


def discard_all() -> None:
    """Forget every table's writes not made yet: this worker's partitions are moving."""
    for table in _instances:
        table.discard()


class Batch:
    """The tables a stage wrote since its last :meth:`flush`."""

    def __init__(self) -> None:
        self.touched: set[WriteBehind] = set()

    def flush(self) -> None:
        """Write what the batch changed."""
        touched = list(self.touched)
        self.touched.clear()  # in place: the context variable holds this very set
        for table in touched:
            table.flush()

    def discard(self) -> None:
        """Forget what the batch changed (it failed; its events are read again)."""
        touched = list(self.touched)
        self.touched.clear()
        for table in touched:
            table.discard()


def begin() -> Batch:
    """Hold the table writes of the calling task (a stage's loop) until its batch's flush."""
    writes = Batch()
    _touched.set(writes.touched)
    return writes


@contextmanager
def in_event(event: faust.EventT) -> Iterator[None]:
    """Make ``event`` Faust's current event: the table writes to its partition."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
