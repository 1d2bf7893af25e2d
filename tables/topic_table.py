"""A Faust GlobalTable whose changelog is a compacted topic of alertflow's own (``silences``,
``rules``, ``links.used``): a writer puts a row (or a tombstone) on the topic and every worker's
table follows it — all partitions as standbys (``synchronize_all_active_partitions``), each
change applied as it comes. One partition, as Faust advises for global tables.
"""

from __future__ import annotations

from app.faust_app import app
from tables.noted import NotedGlobalTable


def topic_table(name: str, topic: str, help: str) -> NotedGlobalTable:
    """The global table ``name`` on the compacted topic ``topic``, registered with the app."""

    class TopicTable(NotedGlobalTable):
        def _changelog_topic_name(self) -> str:
            return topic

    table = TopicTable(
        app,
        name=name,
        beacon=app.tables.beacon,
        standby_buffer_size=1,  # apply each change as it comes (as app.GlobalTable does)
        is_global=True,
        key_type=str,
        partitions=1,
        recovery_buffer_size=1,
        synchronize_all_active_partitions=True,
        help=help,
    )
    app.tables.add(table)
    return table
