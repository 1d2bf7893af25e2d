"""tables.write_behind: what a batch writes reaches the table once, in the event that wrote it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tables import write_behind
from tables.write_behind import WriteBehind, in_event


class RecordingTable(dict[str, Any]):
    """A table that notes every write and the partition of the event it was made in."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, Any, int]] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes.append((key, value, _partition()))
        super().__setitem__(key, value)

    def pop(self, key: str, default: Any = None) -> Any:
        if key in self:
            self.writes.append((key, None, _partition()))
        return super().pop(key, default)


def _partition() -> int:
    import faust

    return faust.current_event().message.partition


class Event:
    """Stands for a Faust event: what the tables read of one is its partition."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


event = Event


def test_a_row_written_many_times_in_a_batch_is_written_once_in_its_event() -> None:
    table = RecordingTable()
    rows = WriteBehind(table)  # type: ignore[arg-type]
    writes = write_behind.begin()
    with in_event(event(1)):
        rows["a"] = 1
        rows["a"] = 2
        assert rows.get("a") == 2 and "a" not in table
    with in_event(event(2)):
        rows["b"] = 3
        rows.pop("b")
        assert rows.get("b") is None
    writes.flush()
    assert table.writes == [("a", 2, 1)]


def test_a_failed_batch_writes_nothing() -> None:
    table = RecordingTable()
    rows = WriteBehind(table)  # type: ignore[arg-type]
    writes = write_behind.begin()
    with in_event(event(0)):
        rows["a"] = 1
    writes.discard()
    writes.flush()
    assert table.writes == [] and rows.get("a") is None


def test_a_deferred_row_is_written_with_the_next_write_or_once_it_is_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = RecordingTable()
    rows = WriteBehind(table)  # type: ignore[arg-type]
    clock = [100.0]
    monkeypatch.setattr(write_behind.time, "monotonic", lambda: clock[0])
    writes = write_behind.begin()
    with in_event(event(3)):
        rows.defer("a", 1)
        rows.defer("b", 1)
    writes.flush()
    assert table.writes == [] and rows.get("a") == 1
    with in_event(event(3)):
        rows["a"] = 2  # a real write takes the deferred one with it
    writes.flush()
    assert table.writes == [("a", 2, 3)]
    clock[0] += write_behind.DEFER_SECONDS + 1
    writes.flush()
    assert table.writes == [("a", 2, 3)]  # a batch that touched nothing flushes nothing …
    with in_event(event(3)):
        rows.defer("c", 1)
    writes.flush()
    assert table.writes[1:] == [("b", 1, 3)]  # … the next one writes what is old enough
    write_behind.discard_all()
    assert rows.get("c") is None
