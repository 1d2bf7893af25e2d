"""Alert id → labels of a firing alert that may inhibit others (agents.notify, app.notify.muting).

A GlobalTable: inhibition crosses incidents, so every worker needs every possible source. The
notify stage writes its changelog directly (:data:`changelog`, one partition), a row when a
source fires and a tombstone when it resolves, with its other outputs.
"""

import orjson

from app.faust_app import app
from app.runtime.stage import Topic

inhibitors = app.GlobalTable(
    "inhibitors",
    key_type=bytes,  # raw keys and JSON values, as the notify stage writes them (read_sources)
    value_type=bytes,
    partitions=1,
    recovery_buffer_size=1,
    use_partitioner=True,
    help=__doc__,
)
changelog = Topic(inhibitors.changelog_topic.get_topic_name(), 1, batched=False)


def read_sources() -> list[tuple[str, dict[str, str]]]:
    """Every firing source alert: ``(alert id, labels)``."""
    found = []
    for key, raw in inhibitors.items():
        row = orjson.loads(raw) if raw else None
        if row:
            found.append((key.decode(), row["labels"]))
    return found
