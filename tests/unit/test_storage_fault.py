"""A full disk (issue G.5): RocksDB's error is recognised, the stage holds its message and
reports the fault, and goes on by itself — the same message, once — when space returns."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rocksdict import Options, Rdict, WriteBatch

from app.runtime.outbox import Outbox
from app.runtime.stage import Context, Record, Stage, _applied
from app.runtime.store import StorageError


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that fills up (mounting needs root, as CI has)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small disk")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_rocksdb_on_a_full_disk_fails_as_the_store_expects_and_works_once_space_returns(
    small_disk: Path,
) -> None:
    filler = small_disk / "filler"
    db = Rdict(str(small_disk / "db"), Options(raw_mode=True))  # as Faust opens it
    with filler.open("wb") as rest:  # take what is left
        try:
            while True:
                rest.write(b"\0" * 65536)
                rest.flush()
        except OSError:
            pass  # the disk is full
    error = None
    for n in range(10_000):
        try:
            batch = WriteBatch(raw_mode=True)  # as RowStore.write_raw writes
            batch.put(f"k{n}".encode(), b"v" * 4096)
            db.write(batch)
            db.flush_wal(True)
        except Exception as exc:  # what RowStore._guarded looks at
            error = exc
            break
    assert error is not None, "a full disk never failed a write"
    assert str(error).startswith(("IO error", "Corruption")), str(error)
    with pytest.raises(Exception):  # noqa: B017 - RocksDB refuses writes until reopened
        db[b"again"] = b"v"
    with suppress(
        Exception
    ):  # "Writer has previous error": closed all the same (as the store does)
        db.close()
    filler.unlink()
    reopened = Rdict(str(small_disk / "db"), Options(raw_mode=True))
    reopened[b"after"] = b"v"
    assert reopened[b"after"] == b"v"
    reopened.close()


def test_a_stage_holds_its_message_while_storage_fails_and_handles_it_once_after() -> None:
    faults: list[tuple[str, str | None]] = []
    stage = Stage(
        "probe",
        producer=None,  # type: ignore[arg-type]  # nothing is sent here
        deadletter=SimpleNamespace(name="alerts.deadletter", partitions=1, batched=False),
        observe=lambda *_: None,
        dead_lettered=lambda _: pytest.fail("a storage fault is not the record's fault"),
        fault=lambda kind, detail: faults.append((kind, detail)),
    )
    calls: list[list[str]] = []

    def handle(ctx: Context, records: Sequence[Record]) -> None:
        calls.append([r.key for r in records])
        if len(calls) <= 2:
            raise StorageError("probe partition 0: IO error: No space left on device")

    event: Any = SimpleNamespace(message=SimpleNamespace(topic="alerts.deduped", partition=0))
    records = [Record("a", {}, 0), Record("b", {}, 1)]
    asyncio.run(_applied(stage, event, records, handle, Outbox(None)))  # type: ignore[arg-type]
    assert calls == [["a", "b"]] * 3  # the whole message again, never record by record
    assert [kind for kind, _ in faults] == ["storage"] * 3
    assert all(detail for _, detail in faults[:2]) and faults[-1][1] is None  # reported, cleared
