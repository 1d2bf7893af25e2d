"""Tenant and fingerprint → the current firing episode and its counts (agents.dedup)."""

from tables.define import keyed_table
from tables.write_behind import WriteBehind

dedup = keyed_table("dedup", __doc__)
# The rows as the dedup stage left them, re-send counts it has not written yet included: the
# stage writes through it, the fingerprint view reads through it (both on the owning worker).
dedup_rows = WriteBehind(dedup)
