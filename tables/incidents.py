"""Incident id → the incident's head (app.notify.incident), written by agents.notify.

Beside the heads, in the same partitions: redirects (a head merged into another incident), what
an incident applied of the contributions of those merged into it (``\\x00child|<id>|<source>``)
and the expiry buckets of resolved heads (``\\x00incidents|...``).
"""

from app.faust_app import app
from app.runtime import StateTable
from app.topics import PARTITIONS

incidents = StateTable(app, "incidents", PARTITIONS, __doc__ or "")


def is_head(key: str) -> bool:
    """Whether a row of the table is an incident's head (not bookkeeping).

    >>> is_head("4f1c"), is_head("\\x00child|4f1c|9a0b")
    (True, False)
    """
    return not key.startswith("\x00")
