"""The notification log: one entry per (incident, receiver, state), checked before every send.

An entry is written ``in_flight`` when a send is decided, and the send starts only once the
broker acknowledged the entry (``Context.after_sent``); it becomes ``sent`` or ``failed`` when
the delivery's result comes back through ``notify.events``. A state is what the receiver is
told: ``firing``, ``update:<version>``, ``repeat:<since>``, ``escalation:<level>``,
``acknowledged`` or ``resolved``, so one incident state change reaches one receiver once.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal, NotRequired, TypedDict

Status = Literal["in_flight", "sent", "failed"]


class Entry(TypedDict):
    """What the log keeps per (incident, receiver, state)."""

    id: str  # the notification id: stable, sent as X-Alertflow-Notification-Id / dedup keys
    status: Status
    notification: dict[str, Any]  # exactly what was (or is being) sent, for a re-send
    started_ms: int  # wall clock when the send was started (for re-sends after a crash)
    attempts: int
    position: NotRequired[int]  # of the result applied (a replayed result changes nothing)
    prune_ms: NotRequired[int]  # event time from which it may go (app.notify.retention)


def key(incident_id: str, receiver: str, state: str) -> str:
    """The table key of one entry.

    >>> key("i1", "ops", "firing")
    'i1|ops|firing'
    """
    return f"{incident_id}|{receiver}|{state}"


def notification_id(incident_id: str, receiver: str, state: str) -> str:
    """A stable id of one notification: the same after a crash, a replay or a re-send.

    >>> notification_id("i1", "ops", "firing") == notification_id("i1", "ops", "firing")
    True
    >>> len(notification_id("i1", "ops", "firing"))
    32
    """
    return hashlib.blake2b(key(incident_id, receiver, state).encode(), digest_size=16).hexdigest()


def started(notification: dict[str, Any], now_ms: int) -> Entry:
    """A new entry for a send about to start."""
    return {
        "id": notification["notification_id"],
        "status": "in_flight",
        "notification": notification,
        "started_ms": now_ms,
        "attempts": 0,
    }


def finished(entry: Entry, notification_id: str, ok: bool, attempts: int) -> Entry:
    """The entry once its delivery ended; a result for another id changes nothing.

    >>> e = started({"notification_id": "n1"}, 0)
    >>> finished(e, "n1", True, 2)["status"], finished(e, "other", True, 2)["status"]
    ('sent', 'in_flight')
    """
    if entry["id"] != notification_id or entry["status"] != "in_flight":
        return entry
    return {**entry, "status": "sent" if ok else "failed", "attempts": attempts}


def orphaned(entry: Entry, running: bool, now_ms: int, resend_after_ms: int) -> bool:
    """Whether an in-flight send was lost with its worker and must be started again.

    A send this process is running is not; one started elsewhere (a worker that crashed, or
    that lost the partition in a rebalance) is, once it is older than any delivery can take.

    >>> e = started({"notification_id": "n1"}, now_ms=1_000)
    >>> orphaned(e, running=False, now_ms=5_000, resend_after_ms=10_000)
    False
    >>> orphaned(e, running=False, now_ms=11_000, resend_after_ms=10_000)
    True
    >>> orphaned(e, running=True, now_ms=99_000, resend_after_ms=10_000)
    False
    """
    if entry["status"] != "in_flight" or running:
        return False
    return now_ms - entry["started_ms"] >= resend_after_ms
