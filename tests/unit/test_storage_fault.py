"""A full disk (issue G.5): RocksDB's error is recognised, the stage holds its message and
reports the fault, and goes on by itself — the same message, once — when space returns, with
nothing the database accepted before lost."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rocksdict import Options, Rdict, WriteBatch

from app.runtime.outbox import Outbox
from app.runtime.stage import Context, Record, Stage, _applied
from app.runtime.store import STAGE_WRITES, STORAGE_FAULTS, StorageError, unlogged


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


def test_rocksdb_without_its_log_on_a_full_disk_writes_again_by_itself_losing_nothing(
    small_disk: Path,
) -> None:
    options = Options(raw_mode=True)  # as Faust opens it, with a memtable the disk cannot hold
    options.set_write_buffer_size(256 * 1024)
    db = Rdict(str(small_disk / "db"), options)
    db.set_write_options(unlogged(wait=True))  # as RowStore opens it; stages write without waiting
    filler = small_disk / "filler"
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
            db.write(_batch(n), STAGE_WRITES)
        except Exception as exc:  # what RowStore._guarded looks at
            error = exc
            break
    assert error is not None, "a full disk never failed a write"
    assert str(error).startswith(STORAGE_FAULTS), str(error)  # an I/O error or a refused stall
    written = n  # rows k0 .. k{n-1} were accepted before the fault
    filler.unlink()
    for _ in range(300):  # RocksDB resumes by itself; the store retries the same write
        try:
            db.write(_batch(n), STAGE_WRITES)
            break
        except Exception:
            time.sleep(0.1)
    else:
        pytest.fail("RocksDB did not write again within 30 s of the disk having room")
    db.close()  # flushes what it held in memory
    reopened = Rdict(str(small_disk / "db"), Options(raw_mode=True))
    assert len(list(reopened.keys())) == written + 1  # nothing accepted was lost
    reopened.close()


def _batch(n: int) -> WriteBatch:
    """A row as RowStore.write_raw writes it (a batch is spent by its write, failed or not)."""
    batch = WriteBatch(raw_mode=True)
    batch.put(f"k{n}".encode(), os.urandom(2048))
    return batch


def probe_stage(faults: list[tuple[str, str | None]]) -> Stage:
    """A stage that sends nothing and notes the faults it reports; a dead letter fails."""
    return Stage(
        "probe",
        producer=None,  # type: ignore[arg-type]  # nothing is sent here
        deadletter=SimpleNamespace(name="alerts.deadletter", partitions=1, batched=False),
        observe=lambda *_: None,
        dead_lettered=lambda _: pytest.fail("a storage fault is not the record's fault"),
        fault=lambda kind, detail: faults.append((kind, detail)),
    )


def test_a_stage_holds_its_message_while_storage_fails_and_handles_it_once_after() -> None:
    faults: list[tuple[str, str | None]] = []
    stage = probe_stage(faults)
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
