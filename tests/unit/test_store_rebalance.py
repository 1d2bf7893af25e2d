"""A rebalance lets go of a table's revoked databases without a full collection per table
(app.runtime.store.RowStore): a database nothing else holds closes at once and opens again
here; one that a reference cycle keeps open is collected when its partition is opened again."""

from __future__ import annotations

import gc
import uuid
from pathlib import Path

import pytest
from faust.types import TP

from app.faust_app import app
from app.runtime.store import RowStore


class Collections:
    """Counts full collections asked for (``gc.collect``), then does them."""

    def __init__(self) -> None:
        self.asked = 0
        self._collect = gc.collect

    def __call__(self, generation: int = 2) -> int:
        self.asked += 1
        return self._collect(generation)


@pytest.fixture
def collections(monkeypatch: pytest.MonkeyPatch) -> Collections:
    counted = Collections()
    monkeypatch.setattr(gc, "collect", counted)
    return counted


def store_in(directory: Path) -> tuple[RowStore, str]:
    """A RowStore of a table of its own whose partitions' databases live in ``directory``."""

    class Probe(RowStore):
        def partition_path(self, partition: int) -> Path:
            return directory / f"p{partition}.db"

    name = f"probe-{uuid.uuid4().hex[:8]}"
    table = app.Table(name, store="memory://probe", partitions=2)
    store = Probe(f"rowstore:{name}", app, table, options={})
    return store, table.changelog_topic.get_topic_name()


def test_revoked_databases_close_without_a_full_collection(
    tmp_path: Path, collections: Collections
) -> None:
    store, changelog = store_in(tmp_path)
    store.write_raw(0, [(b"k", b"v")])
    store.write_raw(1, [(b"k", b"w")])
    store.revoke_partitions(store.table, {TP("other-topic", 0)})  # nothing of this table
    assert set(store._dbs) == {0, 1}
    store.revoke_partitions(store.table, {TP(changelog, 0)})
    assert set(store._dbs) == {1}
    assert collections.asked == 0
    assert store.get_raw(0, b"k") == b"v"  # opened again at once: the lock was let go
    assert collections.asked == 0


def test_a_database_a_cycle_keeps_open_is_collected_when_opened_again(
    tmp_path: Path, collections: Collections
) -> None:
    store, changelog = store_in(tmp_path)
    store.write_raw(0, [(b"k", b"v")])
    gc.disable()  # no automatic collection frees the cycle before the store asks for one
    try:
        cycle: list[object] = [store._dbs[0]]
        cycle.append(cycle)
        store.revoke_partitions(store.table, {TP(changelog, 0)})
        del cycle  # garbage, but the database stays open until a collection frees it
        assert collections.asked == 0
        assert store.get_raw(0, b"k") == b"v"
    finally:
        gc.enable()
    assert collections.asked == 1
