"""Signature of a used Acknowledge/Resolve link → when, by whom, until when it was valid.

A GlobalTable on the compacted topic ``links.used`` (as :mod:`tables.silences`): every worker
knows every used link, across restarts. The web view that takes a link writes here once the
feedback is in Kafka; a row is dropped (tombstone) once its link has expired.
"""

from __future__ import annotations

import faust

from app.faust_app import app

TOPIC = "links.used"


class _TopicTable(faust.GlobalTable):
    """A global table whose changelog topic has a plain name of its own."""

    def _changelog_topic_name(self) -> str:
        return TOPIC


links_used = app.tables.add(
    _TopicTable(
        app,
        name="links_used",
        beacon=app.tables.beacon,
        standby_buffer_size=1,
        is_global=True,
        key_type=str,
        partitions=1,
        recovery_buffer_size=1,
        synchronize_all_active_partitions=True,
        help=__doc__,
    )
)
