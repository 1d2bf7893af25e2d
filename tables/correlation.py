"""Tenant → the open incident of each correlation key (agents.correlate)."""

from tables.define import keyed_table

correlation = keyed_table("correlation", __doc__)
