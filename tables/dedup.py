"""``tenant|fingerprint`` → the fingerprint's current episode and its counts (agents.dedup).

Beside the episodes, in the same partitions: the partition's bookkeeping row (held rows and when
they settle, recent releases), its expiry buckets, and aliases — an id the bridge handed out for
a message that joined an open episode → that episode's alert id.
"""

from app.faust_app import app
from app.runtime import StateTable
from app.topics import PARTITIONS

dedup = StateTable(app, "dedup", PARTITIONS, __doc__ or "")
