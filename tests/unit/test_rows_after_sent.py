"""A table's rows reach RocksDB only once the broker acknowledged their changelog messages, so
the store never holds a row whose window was not sent; until then they are read from memory,
and rows RocksDB refuses (a full disk) wait there, with the changelog offset not noted and the
stage held before its next call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from app.notify.simulate import MemoryStore, MemoryTable
from app.runtime.outbox import Outbox
from app.runtime.stage import Context, Record, _applied
from app.runtime.state import Rows
from app.runtime.store import StorageError
from tests.unit.test_stage_runs import SentMessages
from tests.unit.test_storage_fault import probe_stage


class _Disk(MemoryStore):
    """A store that refuses writes while ``full``, and notes the changelog offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.full = False
        self.offsets: dict[int, int] = {}

    def write_raw(self, partition: int, rows: Iterable[tuple[bytes, bytes | None]]) -> None:
        if self.full:
            raise StorageError(f"partition {partition}: IO error: No space left on device")
        super().write_raw(partition, rows)

    def note_offset(self, partition: int, offset: int) -> None:
        self.offsets[partition] = offset


def _table() -> tuple[MemoryTable, _Disk]:
    table = MemoryTable("probe", 2)
    disk = _Disk()
    table._memory = disk
    return table, disk


def _outbox() -> Outbox:
    return Outbox(SentMessages())  # type: ignore[arg-type]


def test_rows_are_stored_once_their_changelog_messages_are_acknowledged() -> None:
    table, disk = _table()
    outbox = _outbox()
    table.write(outbox, {(0, "a"): {"n": 1}, (1, "b"): {"n": 2}})
    assert disk.get_raw(0, b"a") is None and disk.get_raw(1, b"b") is None
    assert table.read(0, "a") == {"n": 1} and table.find("b") == {"n": 2}
    assert list(table.items(0)) == [("a", {"n": 1})]  # rebuilds and views see them too
    asyncio.run(outbox.flush())
    assert disk.get_raw(0, b"a") == b'{"n":1}' and disk.get_raw(1, b"b") == b'{"n":2}'
    rows, deleting = Rows(table, 0), _outbox()
    rows.delete("a")
    rows.commit(deleting)
    assert table.read(0, "a") is None and list(table.items(0)) == []
    assert disk.get_raw(0, b"a") is not None
    asyncio.run(deleting.flush())
    assert disk.get_raw(0, b"a") is None


def test_rows_of_a_send_that_never_went_out_never_reach_the_store() -> None:
    table, disk = _table()
    first = _outbox()
    table.write(first, {(0, "a"): {"n": 1}})
    asyncio.run(first.flush())
    lost = _outbox()
    table.write(lost, {(0, "a"): {"n": 2}})
    lost.clear()  # the stage stopped (or was killed) before its window was sent
    assert disk.get_raw(0, b"a") == b'{"n":1}'


def test_rows_the_store_refuses_wait_in_memory_and_hold_the_offset_back() -> None:
    table, disk = _table()
    disk.full = True
    outbox = _outbox()
    table.write(outbox, {(0, "a"): {"n": 1}})
    ends = asyncio.run(outbox.flush())  # acknowledged; RocksDB refuses the rows
    table.written(0, ends[("probe-changelog", 0)])
    assert disk.offsets == {} and table.read(0, "a") == {"n": 1}
    with pytest.raises(StorageError):
        table.store_unstored()  # the stage's next call holds while the disk is full
    disk.full = False
    table.store_unstored()
    table.written(0, 7)
    assert disk.get_raw(0, b"a") == b'{"n":1}' and disk.offsets == {0: 7}


def test_a_stage_holds_before_its_call_while_the_store_refuses_earlier_rows() -> None:
    table, disk = _table()
    disk.full = True
    sent = _outbox()
    table.write(sent, {(0, "a"): {"n": 1}})
    asyncio.run(sent.flush())  # acknowledged; RocksDB refuses the rows
    faults: list[tuple[str, str | None]] = []
    stage = probe_stage(faults)
    seen: list[bool] = []

    def handle(ctx: Context, records: Sequence[Record]) -> None:
        seen.append(disk.get_raw(0, b"a") is not None)

    async def run() -> None:
        asyncio.get_running_loop().call_later(0.2, lambda: setattr(disk, "full", False))
        event: Any = SimpleNamespace(message=SimpleNamespace(topic="t", partition=0))
        await _applied(stage, event, [Record("k", {}, 0)], handle, _outbox(), [table])

    asyncio.run(run())
    assert seen == [True]  # called once, after the earlier rows were stored
    assert faults[0][1] and faults[-1] == ("storage", None)  # the fault reported, then cleared
