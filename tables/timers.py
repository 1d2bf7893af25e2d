"""Incident id → its next wake-up in event time and its sends in flight (agents.notify).

Only incidents with something pending have a row, so the notify agent can scan the rows of a
partition whenever its event time advances; the rows survive a restart with the changelog.
"""

from tables.define import keyed_table

timers = keyed_table("timers", __doc__)
