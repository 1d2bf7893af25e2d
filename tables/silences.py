"""Silence id → silence (app.silences), every worker holding all of them.

A Faust GlobalTable whose changelog is the compacted topic ``silences`` itself: the HTTP view
writes a silence to the topic and every worker's table follows it (all partitions as standbys,
``synchronize_all_active_partitions``). One partition, as Faust advises for global tables.
"""

from __future__ import annotations

import faust

from app.faust_app import app

TOPIC = "silences"


class _TopicTable(faust.GlobalTable):
    """A global table whose changelog topic has a plain name of its own."""

    def _changelog_topic_name(self) -> str:
        return TOPIC


silences = app.tables.add(
    _TopicTable(
        app,
        name="silences",
        beacon=app.tables.beacon,
        standby_buffer_size=1,  # apply each change as it comes (as app.GlobalTable does)
        is_global=True,
        key_type=str,
        partitions=1,
        recovery_buffer_size=1,
        synchronize_all_active_partitions=True,
        help=__doc__,
    )
)
