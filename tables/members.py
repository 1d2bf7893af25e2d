"""Alert id → the alert's member row (app.notify.member): the alert view, written by agents.notify.

A member row lives in the partition of its incident, not of its own id, so a worker finds an
alert by asking every worker (app.web.lookup). Beside them: their expiry buckets.
"""

from app.faust_app import app
from app.runtime import StateTable
from app.topics import PARTITIONS

members = StateTable(app, "members", PARTITIONS, __doc__ or "")
