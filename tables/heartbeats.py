"""Heartbeat name → its state (app.heartbeats): one row per configured heartbeat, one partition.

Written by :mod:`agents.heartbeats` only, read by its clock and by ``GET /api/v1/heartbeats``.
Its changelog is the compacted topic ``heartbeats.state``, created with the other topics before
the worker starts (a changelog Faust creates as it starts is missing from the consumer's first
view of the cluster, and writes to the table fail until the next rebalance).
"""

from typing import Any, cast

import faust

from app.faust_app import app
from tables.define import ROCKSDB_OPTIONS

CHANGELOG = "heartbeats.state"


class _NamedChangelogTable(faust.Table[str, Any]):
    """A table whose changelog topic has a plain name of its own."""

    def _changelog_topic_name(self) -> str:
        return CHANGELOG


heartbeats = cast(
    "faust.Table[str, Any]",
    app.tables.add(
        _NamedChangelogTable(
            app,
            name="heartbeats",
            key_type=bytes,  # raw keys, read and written as str (see tables.define)
            partitions=1,  # like its topic: a few heartbeats, one owner
            help=__doc__,
            options=dict(ROCKSDB_OPTIONS),
        )
    ),
)
