"""Incident id → alerts, status, first/last seen, notification log (agents.notify)."""

from tables.define import keyed_table

incidents = keyed_table("incidents", __doc__)
