"""Rows of the correlation stage, every key beginning with the correlation group (the stream's
key, ``tenant|route|values``): ``<group>`` (its session: counts per incident it holds alerts
of) and ``<group>|f|<fingerprint>`` (the fingerprint's last alert and incident); beside them
the expiry buckets ``\\x00correlation|<partition>|<hour>``.
"""

from app.faust_app import app
from app.runtime import StateTable
from app.topics import PARTITIONS

correlation = StateTable(app, "correlation", PARTITIONS, __doc__ or "")
