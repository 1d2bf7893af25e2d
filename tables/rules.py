"""Rule id → metric rule (app.metric_rules.rules), every worker holding all of them.

Like :mod:`tables.silences`: a Faust GlobalTable whose changelog is the compacted topic
``rules`` itself. The HTTP view writes a rule (or a tombstone, to delete it) to the topic and
every worker's table follows, so each worker evaluates its series against every rule.
"""

from __future__ import annotations

from typing import cast

import faust

from app.faust_app import app

TOPIC = "rules"


class _TopicTable(faust.GlobalTable):
    """A global table whose changelog topic has a plain name of its own."""

    def _changelog_topic_name(self) -> str:
        return TOPIC


rules = cast(
    faust.GlobalTable,
    app.tables.add(
        _TopicTable(
            app,
            name="rules",
            beacon=app.tables.beacon,
            standby_buffer_size=1,  # apply each change as it comes
            is_global=True,
            key_type=str,
            partitions=1,
            recovery_buffer_size=1,
            synchronize_all_active_partitions=True,
            help=__doc__,
        )
    ),
)
