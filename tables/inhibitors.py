"""Alert id → labels of a firing alert that may inhibit others (agents.notify, app.notify.muting).

A GlobalTable: inhibition crosses incidents, so every worker needs every possible source. The
notify stage writes its changelog directly (:data:`changelog`, one partition), a row when a
source fires and a tombstone when it resolves, with its other outputs.

:data:`firing` keeps the sources indexed (:class:`app.notify.muting.Sources`) across handler
calls: read whole once, then following what the changelog changes, so a call costs the same
however many sources fire.
"""

import orjson

from app.faust_app import app
from app.notify.muting import InhibitRule, Sources
from app.runtime.stage import Topic
from tables.noted import NotedGlobalTable

inhibitors = NotedGlobalTable(
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

    def __init__(self, table: NotedGlobalTable) -> None:
        self._table = table
        self._index: Sources | None = None

    def current(self, rules: tuple[InhibitRule, ...]) -> Sources:
        """The index as of the changelog's latest applied change (not to be changed by callers:
        :class:`app.notify.muting.Muting` keeps a call's own changes beside it)."""
        changes = self._table.taken()
        if changes is None or self._index is None or self._index.rules != rules:
            self._index = Sources(rules, _read(self._table))
            return self._index
        for key, raw in changes.items():
            source_id, labels = key.decode(), _labels(raw)
            if labels is not None:
                self._index.add(source_id, labels)
            elif source_id in self._index:
                self._index.remove(source_id)
        return self._index


def _read(table: NotedGlobalTable) -> list[tuple[str, dict[str, str]]]:
    """Every firing source alert in ``table``: ``(alert id, labels)``."""
    rows = ((key.decode(), _labels(raw)) for key, raw in table.items())
    return [(source_id, labels) for source_id, labels in rows if labels is not None]


def _labels(raw: bytes | None) -> dict[str, str] | None:
    """The labels of a source's row, ``None`` for a tombstone."""
    row = orjson.loads(raw) if raw else None
    return row["labels"] if row else None


firing = FiringSources(inhibitors)
