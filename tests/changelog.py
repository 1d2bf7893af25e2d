"""A noted global table on Faust's memory store, and changelog events as Faust's recovery
hands them to a table: for unit tests of what follows a table (tables.noted)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson

from app.faust_app import app
from tables.noted import NotedGlobalTable


def memory_table(name: str) -> NotedGlobalTable:
    """A table of its own (Faust takes a bare ``memory://`` for no store, so: a host)."""
    return NotedGlobalTable(app, name=name, store="memory://test", partitions=1)


def events(*rows: tuple[str, dict[str, Any] | None], raw: bool = False) -> list[Any]:
    """Changelog events of ``(key, row)`` (``None``: a tombstone): the message raw, the event's
    key and value as the table holds them (decoded, or ``raw`` for a table of bytes)."""
    found = []
    for key, row in rows:
        value = orjson.dumps(row) if row else None
        message = SimpleNamespace(key=key.encode(), value=value, tp=None, offset=0, partition=0)
        held = (message.key, value) if raw else (key, row)
        found.append(SimpleNamespace(key=held[0], value=held[1], message=message))
    return found
