"""``incident|receiver|state`` → the notification log entry (app.notify.nflog), by agents.notify.

Written only while handling a record of the incident's partition, so every entry of an incident
lives in the incident's changelog partition. Beside them: their expiry buckets.
"""

from app.faust_app import app
from app.runtime import StateTable
from app.topics import PARTITIONS

nflog = StateTable(app, "nflog", PARTITIONS, __doc__ or "")
