"""Alert id → labels of a firing alert that may inhibit others (agents.notify, app.notify.muting).

A GlobalTable: inhibition crosses incidents, so every worker needs every possible source. The
notify stage writes its changelog directly (:data:`changelog`, one partition), a row when a
source fires and a tombstone when it resolves, with its other outputs.

:data:`firing` keeps the sources indexed (:class:`app.notify.muting.Sources`) across handler
calls: read whole once, then following what the changelog changes, so a call costs the same
however many sources fire.
"""

from collections.abc import Iterable
from typing import Any

import faust
import orjson

from app.faust_app import app
from app.notify.muting import InhibitRule, Sources
from app.runtime.stage import Topic

CHANGES_MAX = 100_000  # keys changed since the index last followed them, at most (then re-read)


class _NotedTable(faust.GlobalTable):
    """Faust's GlobalTable that also notes the keys its changelog changes, with their values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.changes: dict[bytes, bytes | None] = {}
        self.overflowed = False

    def apply_changelog_batch(self, batch: Iterable[faust.EventT[Any]]) -> None:
        events = list(batch)
        super().apply_changelog_batch(events)
        for event in events:
            if event.message.key is not None:
                self.changes[event.message.key] = event.message.value
        if len(self.changes) > CHANGES_MAX:
            self.changes.clear()
            self.overflowed = True


inhibitors = _NotedTable(
    app,
    name="inhibitors",
    beacon=app.tables.beacon,
    partitions=1,
    standby_buffer_size=1,  # as app.GlobalTable makes them: changes applied as they come
    is_global=True,
    key_type=bytes,  # raw keys and JSON values, as the notify stage writes them
    value_type=bytes,
    recovery_buffer_size=1,
    use_partitioner=True,
    help=__doc__,
)
app.tables.add(inhibitors)
changelog = Topic(inhibitors.changelog_topic.get_topic_name(), 1, batched=False)


class FiringSources:
    """The firing sources, indexed for the current inhibition rules."""

    def __init__(self, table: _NotedTable) -> None:
        self._table = table
        self._index: Sources | None = None

    def current(self, rules: tuple[InhibitRule, ...]) -> Sources:
        """The index as of the changelog's latest applied change (not to be changed by callers:
        :class:`app.notify.muting.Muting` keeps a call's own changes beside it)."""
        table = self._table
        if self._index is None or self._index.rules != rules or table.overflowed:
            table.changes.clear()
            table.overflowed = False
            self._index = Sources(rules, _read(table))
        for key, raw in table.changes.items():
            source_id = key.decode()
            row = orjson.loads(raw) if raw else None
            if row:
                self._index.add(source_id, row["labels"])
            elif source_id in self._index:
                self._index.remove(source_id)
        table.changes.clear()
        return self._index


def _read(table: _NotedTable) -> list[tuple[str, dict[str, str]]]:
    """Every firing source alert in ``table``: ``(alert id, labels)``."""
    found = []
    for key, raw in table.items():
        row = orjson.loads(raw) if raw else None
        if row:
            found.append((key.decode(), row["labels"]))
    return found


firing = FiringSources(inhibitors)
