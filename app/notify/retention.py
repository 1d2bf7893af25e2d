"""How long the notify stage keeps its rows, in event time (the partition's clock).

- **Log entries** (``nflog``) guard against sending one notification twice and carry what is
  re-sent after a crash. Once an incident has been resolved for longer than its routes'
  ``repeat_interval`` plus a day, nothing can be owed any more and its entries go (an entry
  still in flight goes when its result comes back). An incident lists its last ``LOGGED``
  entries; an older one leaves the list with a day to live.
- **Members** (the alert view) go ``MEMBER_KEEP_MS`` after their alert's last change once it
  resolved (long enough for late feedback to find the features it labels), ``FIRING_KEEP_MS``
  after it while it still fires.
- **Heads** of resolved or merged incidents go ``HEAD_KEEP_MS`` after that.

Each row is listed in an hourly bucket of :class:`tables.expiry.Expiry` when it gets a due
time; the stage sweeps the buckets as its clock passes them and asks the functions below
whether a listed row is still due.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.notify.incident import Incident

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
LOGGED = 64  # log keys an incident lists
MEMBER_KEEP_MS = 7 * DAY_MS
FIRING_KEEP_MS = 30 * DAY_MS
HEAD_KEEP_MS = 30 * DAY_MS


def keep_until(resolved_ms: int, repeat_interval_ms: int | None) -> int:
    """The event time from which a resolved incident's log entries may go.

    >>> keep_until(0, None) == DAY_MS, keep_until(0, 4 * HOUR_MS) == 28 * HOUR_MS
    (True, True)
    """
    return resolved_ms + (repeat_interval_ms or 0) + DAY_MS


def logged(keys: list[str], key: str) -> tuple[list[str], list[str]]:
    """An incident's log keys with ``key`` added, and those that no longer fit.

    >>> logged(["a", "b"], "c")
    (['a', 'b', 'c'], [])
    >>> kept, out = logged([str(n) for n in range(LOGGED)], "new"); len(kept), out
    (64, ['0'])
    """
    if key in keys:
        return keys, []
    kept = [*keys, key]
    return kept[-LOGGED:], kept[:-LOGGED]


def entry_due(entry: Mapping[str, Any], head: Incident | None) -> int | None:
    """When a log entry may go: its own time, else its incident's; never while in flight.

    >>> entry_due({"status": "sent", "prune_ms": 5}, None), entry_due({"status": "sent"}, None)
    (5, None)
    >>> entry_due({"status": "in_flight", "prune_ms": 5}, None) is None
    True
    """
    if entry.get("status") == "in_flight":
        return None
    if entry.get("prune_ms") is not None:
        return int(entry["prune_ms"])
    if head is None or head["status"] != "resolved":
        return None
    return head["prune_ms"]


def member_due(member: Mapping[str, Any]) -> int:
    """When a member row may go.

    >>> member_due({"last_ms": 0, "alert": {"status": "resolved"}}) == MEMBER_KEEP_MS
    True
    """
    keep = FIRING_KEEP_MS if member["alert"]["status"] == "firing" else MEMBER_KEEP_MS
    return int(member["last_ms"]) + keep


def head_due(head: Incident) -> int | None:
    """When an incident's head may go: resolved or merged for ``HEAD_KEEP_MS``.

    >>> head_due({"status": "resolved", "resolved_ms": 0, "merged_into": None}) == HEAD_KEEP_MS
    True
    >>> head_due({"status": "firing", "resolved_ms": 0, "merged_into": None}) is None
    True
    """
    if head["merged_into"] is not None:
        return head.get("merged_ms", 0) + HEAD_KEEP_MS
    if head["status"] != "resolved" or head["resolved_ms"] is None:
        return None
    return head["resolved_ms"] + HEAD_KEEP_MS
