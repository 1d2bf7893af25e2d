"""Alert id → labels of a firing alert that may inhibit others (agents.notify, app.notify.muting).

A GlobalTable: inhibition crosses incidents, so every worker needs every possible source. The
notify stage writes its changelog directly (:data:`changelog`, one partition), a row when a
source fires and a tombstone when it resolves, with its other outputs.
"""

from app.faust_app import app
from app.runtime.stage import Topic

inhibitors = app.GlobalTable(
    "inhibitors",
    key_type=str,
    partitions=1,
    recovery_buffer_size=1,
    use_partitioner=True,
    help=__doc__,
)
changelog = Topic(inhibitors.changelog_topic.get_topic_name(), 1, batched=False)
