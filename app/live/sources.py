"""What feeds the live stream: a topic per source, and how its record becomes an event.

Adding a source (say, a topic of incident changes) is one :class:`Source` in :data:`SOURCES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One record of a source, as the stream sends it (``data``) and filters it."""

    type: str  # "alert" | "notification" | "feedback"
    tenant: str | None
    incident_id: str | None
    data: dict[str, Any]  # what a client receives, without the cursor
    topic: str
    partition: int
    offset: int


Reader = Callable[[Any], tuple[str | None, str | None, dict[str, Any]] | None]


@dataclass(frozen=True)
class Source:
    """A topic of the feed: the event type it gives and how to read one of its records.

    ``read`` answers ``(tenant, incident_id, data)``, or ``None`` for a record to skip.
    """

    topic: str
    type: str
    read: Reader

    def event(self, partition: int, offset: int, value: Any) -> Event | None:
        """The event of one decoded record, or ``None``.

        >>> s = Source("alerts.enriched", "alert", read_alert)
        >>> e = s.event(0, 7, {"id": "a1", "tenant": "t", "incident_id": "i1"})
        >>> e.type, e.tenant, e.incident_id, e.data["alert"]["id"], e.offset
        ('alert', 't', 'i1', 'a1', 7)
        >>> s.event(0, 8, ["not", "an", "alert"]) is None
        True
        """
        read = self.read(value)
        if read is None:
            return None
        tenant, incident_id, data = read
        return Event(self.type, tenant, incident_id, data, self.topic, partition, offset)


def read_alert(value: Any) -> tuple[str | None, str | None, dict[str, Any]] | None:
    """An enriched alert (``alerts.enriched``)."""
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return None
    return _text(value.get("tenant")), _text(value.get("incident_id")), {"alert": value}


def read_notification(value: Any) -> tuple[str | None, str | None, dict[str, Any]] | None:
    """A delivered or failed notification (``notifications.sent`` / ``.failed``).

    >>> read_notification({"receiver": "w", "state": "firing", "outcome": "success",
    ...     "notification": {"tenant": "t", "incident_id": "i1", "status": "firing"}})[:2]
    ('t', 'i1')
    """
    if not isinstance(value, dict) or not isinstance(value.get("notification"), dict):
        return None
    notification = value["notification"]
    return (
        _text(notification.get("tenant")),
        _text(notification.get("incident_id")),
        {"notification": value},
    )


def read_feedback(value: Any) -> tuple[str | None, str | None, dict[str, Any]] | None:
    """An acknowledgement or resolve (``alerts.feedback``; ``tenant`` since the console)."""
    if not isinstance(value, dict) or not isinstance(value.get("alert_id"), str):
        return None
    return _text(value.get("tenant")), _text(value.get("incident_id")), {"feedback": value}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


SOURCES = (
    Source("alerts.enriched", "alert", read_alert),
    Source("notifications.sent", "notification", read_notification),
    Source("notifications.failed", "notification", read_notification),
    Source("alerts.feedback", "feedback", read_feedback),
)
TYPES = tuple(sorted({source.type for source in SOURCES}))
