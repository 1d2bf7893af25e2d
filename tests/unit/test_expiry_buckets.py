"""Expiry buckets: one head row per listing call, and buckets written in the old shape (a count
and partly filled chunks) still swept whole after new keys join them."""

from __future__ import annotations

from app.runtime.state import MemoryRows
from tables.expiry import CHUNK, HOUR_MS, Expiry


class Counting(MemoryRows):
    """Rows that count their writes."""

    def __init__(self) -> None:
        super().__init__()
        self.puts = 0

    def put(self, key: str, value: object) -> None:
        self.puts += 1
        super().put(key, value)


def test_listing_a_key_writes_one_row_until_a_chunk_fills() -> None:
    rows, expiry = Counting(), Expiry("e")
    for n in range(CHUNK - 1):
        expiry.schedule(rows, 0, f"k{n}", due_ms=HOUR_MS + n, before_ms=None)
    assert rows.puts == CHUNK - 1
    expiry.schedule(rows, 0, "last", due_ms=HOUR_MS, before_ms=None)
    assert rows.puts == CHUNK + 1  # the full chunk, and the head with an empty tail
    assert expiry.take(rows, 0, 0) == []  # starts the partition's clock
    assert expiry.take(rows, 0, 3 * HOUR_MS) == [f"k{n}" for n in range(CHUNK - 1)] + ["last"]
    assert sorted(rows.data) == ["e|0|swept"]


def test_a_bucket_of_the_old_shape_is_taken_whole_after_new_keys_join_it() -> None:
    rows, expiry = MemoryRows(), Expiry("e")
    old = [f"old{n}" for n in range(CHUNK + 3)]
    rows.put("e|0|1", len(old))  # a count, a full chunk, a chunk of three
    rows.put("e|0|1|0", old[:CHUNK])
    rows.put("e|0|1|1", old[CHUNK:])
    expiry.schedule(rows, 0, "new", due_ms=HOUR_MS, before_ms=None)
    assert expiry.take(rows, 0, 0) == []
    assert expiry.take(rows, 0, 3 * HOUR_MS) == [*old, "new"]
    assert sorted(rows.data) == ["e|0|swept"]
