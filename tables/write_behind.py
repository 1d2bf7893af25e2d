"""Write-behind for a stage's tables: a row written many times in a batch is written once.

Every Faust table write is a RocksDB put, a changelog message and its bookkeeping; a stage
that rewrites the same rows for each record of a batch (a tenant's correlation head, an
incident, a partition's bookkeeping) pays that per record. A :class:`WriteBehind` keeps the
rows the stage wrote during one batch, answers reads from them, and writes each to the table
once when the stage's batch ends (:func:`batch`) — each in the Faust event it was last written
in, so it lands in that event's partition and changelog, and before the batch's events are
acknowledged. A batch that fails before its end writes nothing: its events are not
acknowledged, so they are read again.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import faust
from faust.streams import _current_event

_DELETED = object()
_MISSING = object()
_touched: ContextVar[set[WriteBehind] | None] = ContextVar("touched", default=None)


class WriteBehind:
    """The rows of ``table`` as the running batch left them (the dict methods stages use)."""

    def __init__(self, table: faust.Table) -> None:
        self.table = table
        self._dirty: dict[Any, tuple[Any, faust.EventT]] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        """The row, as written in this batch or else as the table has it."""
        if key in self._dirty:
            value = self._dirty[key][0]
            return default if value is _DELETED else value
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

    def items(self) -> Iterator[tuple[Any, Any]]:
        """Every row of the table (this batch's writes are written first)."""
        self.flush()
        return iter(self.table.items())

    def flush(self) -> None:
        """Write the rows of this batch to the table, each in the event that wrote it last."""
        dirty, self._dirty = self._dirty, {}
        for key, (value, event) in dirty.items():
            with in_event(event):
                if value is _DELETED:
                    self.table.pop(key, None)
                else:
                    self.table[key] = value

    def discard(self) -> None:
        """Forget this batch's writes (the batch failed; its events are read again)."""
        self._dirty.clear()

    def _write(self, key: Any, value: Any) -> None:
        event = faust.current_event()
        if event is None:
            raise RuntimeError(f"{self.table.name}: written outside of a stream event")
        touched = _touched.get()
        if touched is None:  # not in a batch: write through
            self._dirty[key] = (value, event)
            self.flush()
            return
        touched.add(self)
        self._dirty[key] = (value, event)


@contextmanager
def batch() -> Iterator[None]:
    """Hold the writes of the stage's batch; write them when it ends, forget them if it fails."""
    touched: set[WriteBehind] = set()
    token = _touched.set(touched)
    try:
        yield
    except BaseException:
        for table in touched:
            table.discard()
        raise
    finally:
        _touched.reset(token)
    for table in touched:
        table.flush()


@contextmanager
def in_event(event: faust.EventT) -> Iterator[None]:
    """Make ``event`` Faust's current event: the table writes to its partition."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
