"""Tenant and fingerprint → the current firing episode and its counts (agents.dedup)."""

from tables.define import keyed_table

dedup = keyed_table("dedup", __doc__)
