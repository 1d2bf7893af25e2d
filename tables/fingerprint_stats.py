"""``tenant|fingerprint`` → what people did with its alerts (agents.fingerprint_stats).

Keyed like the dedup table, so a fingerprint's episode row and its statistics share a partition
and ``GET /api/v1/fingerprints/{fp}`` reads both on one worker.
"""

from app.faust_app import app
from app.runtime import StateTable
from app.topics import PARTITIONS

fingerprint_stats = StateTable(app, "fingerprint_stats", PARTITIONS, __doc__ or "")
