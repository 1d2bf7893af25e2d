"""How long the notification log keeps a resolved incident's entries, and how they are found.

An incident's ``nflog`` entries guard against sending one notification twice; once it has been
resolved for longer than its routes' ``repeat_interval`` plus a day (event time), nothing can
be owed any more and they go. Incidents due in the same hour share a *bucket*, and each
partition's *schedule* lists its buckets, so a sweep reads one row per event and one bucket per
hour that passed, never the whole table. Both are rows of the ``nflog`` table whose keys name
the partition, written only while handling an event of that partition (see ``agents.notify``).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from app import nflog

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def keep_until(resolved_ms: int, repeat_interval_ms: int | None) -> int:
    """The event time from which a resolved incident's log entries may go.

    >>> keep_until(0, None) == DAY_MS, keep_until(0, 4 * HOUR_MS) == 28 * HOUR_MS
    (True, True)
    """
    return resolved_ms + (repeat_interval_ms or 0) + DAY_MS


def schedule_key(partition: int) -> str:
    """The row listing the partition's buckets (hours with incidents to prune).

    >>> schedule_key(3)
    '\\x00nflog|3'
    """
    return f"\x00nflog|{partition}"


def bucket_key(partition: int, hour: int) -> str:
    """The row listing the incidents of ``partition`` due in ``hour`` (epoch hours).

    >>> bucket_key(3, 493_000)
    '\\x00nflog|3|493000'
    """
    return f"{schedule_key(partition)}|{hour}"


def bucket_of(due_ms: int) -> int:
    """The hour whose bucket holds an incident due at ``due_ms``.

    >>> bucket_of(5 * HOUR_MS + 1)
    5
    """
    return due_ms // HOUR_MS


def scheduled(hours: list[int], hour: int) -> list[int]:
    """The sorted schedule with ``hour`` in it.

    >>> scheduled([3, 7], 5), scheduled([3, 7], 7)
    ([3, 5, 7], [3, 7])
    """
    if hour in hours:
        return hours
    found = list(hours)
    bisect.insort(found, hour)
    return found


def due(hours: list[int], now_ms: int) -> tuple[list[int], list[int]]:
    """The hours whose buckets are due at ``now_ms`` (the hour is over), and the rest.

    >>> due([3, 5, 7], 6 * HOUR_MS)
    ([3, 5], [7])
    >>> due([3, 5, 7], 6 * HOUR_MS - 1)
    ([3], [5, 7])
    """
    cut = bisect.bisect_left(hours, now_ms // HOUR_MS)
    return hours[:cut], hours[cut:]


def log_keys(incident: Mapping[str, Any]) -> list[str]:
    """The ``nflog`` keys of an incident: those it recorded, else (older rows) those it must have.

    >>> log_keys({"id": "i1", "logged": ["i1|ops|update:ab"]})
    ['i1|ops|update:ab']
    >>> log_keys({"id": "i1", "told": {"ops": {}}, "escalated": 1})
    ['i1|ops|firing', 'i1|ops|acknowledged', 'i1|ops|resolved', 'i1|ops|escalation:1']
    """
    if "logged" in incident:
        return list(incident["logged"])
    states = ["firing", "acknowledged", "resolved"]
    states += [f"escalation:{level}" for level in range(1, incident.get("escalated", 0) + 1)]
    return [nflog.key(incident["id"], r, s) for r in incident.get("told", {}) for s in states]
