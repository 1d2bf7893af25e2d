"""Incident id → its next due time in event time and its sends in flight (app.notify.timers).

Only incidents with something pending have a row; agents.notify indexes a partition's rows in
memory the first time it handles the partition after an assignment.
"""

from app.faust_app import app
from app.runtime import StateTable
from app.topics import PARTITIONS

timers = StateTable(app, "timers", PARTITIONS, __doc__ or "")
