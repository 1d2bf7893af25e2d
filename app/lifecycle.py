"""An incident's lifecycle: who acknowledged it, who resolved it, and its timeline.

The timeline is a capped list of events ``{at, kind, by?, receiver?, detail?}``, oldest first,
of the kinds in :data:`KINDS`. It keeps the event that opened the incident and the latest
``MAX_EVENTS - 1`` after it, so an incident that flaps for a week keeps a row of bounded size.

The rules of a resolve by a person, as pure functions the notify and correlation stages apply:

- :func:`close`: the incident is closed, once: every alert of it that still fires counts as
  resolved for notification purposes — the notify plan (:mod:`app.dispatch`) sees no firing
  alert and tells each receiver ``resolved`` once — and who and when are kept;
- :func:`takes_firing`: a closed incident takes no firing alert any more: the next firing
  alert of its group opens a new incident (the correlation stage must forget the closed one's
  key);
- :func:`after_close`: what a closed incident does with a later message of one of its alerts.

:func:`view` is what ``GET /api/v1/incidents/{id}`` adds: ``acknowledged_by/at``,
``resolved_by/at`` and the timeline — recorded events where the incident has them, else what
can be read back from the record (:func:`derived_timeline`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, NotRequired, TypedDict

Kind = Literal[
    "opened", "alert_added", "alert_resolved", "notified", "acknowledged", "escalated", "resolved"
]
KINDS: tuple[Kind, ...] = (
    "opened",
    "alert_added",
    "alert_resolved",
    "notified",
    "acknowledged",
    "escalated",
    "resolved",
)
MAX_EVENTS = 50


class Event(TypedDict):
    """One thing that happened to an incident."""

    at: str
    kind: Kind
    by: NotRequired[str]  # the person (acknowledged, resolved by a person)
    receiver: NotRequired[str]  # notified, escalated
    detail: NotRequired[str]  # the alert id, the notification's change, the level …


class Closure(TypedDict):
    """A resolve by a person: who, when, and which alerts still fired then."""

    by: str
    at: str
    firing: list[str]


def event(
    kind: Kind,
    at: str,
    *,
    by: str | None = None,
    receiver: str | None = None,
    detail: str | None = None,
) -> Event:
    """An event; the optional fields only when given.

    >>> event("notified", "2026-01-01T00:00:00Z", receiver="ops", detail="firing")
    {'at': '2026-01-01T00:00:00Z', 'kind': 'notified', 'receiver': 'ops', 'detail': 'firing'}
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    found: Event = {"at": at, "kind": kind}
    if by is not None:
        found["by"] = by
    if receiver is not None:
        found["receiver"] = receiver
    if detail is not None:
        found["detail"] = detail
    return found


def record(timeline: Iterable[Event], *events: Event) -> list[Event]:
    """The timeline with ``events`` appended, capped at :data:`MAX_EVENTS`: the first event (the
    opening) stays, the oldest after it go.

    >>> line = record([], *(event("notified", f"t{i:03}") for i in range(120)))
    >>> len(line), line[0]["at"], line[1]["at"], line[-1]["at"]
    (50, 't000', 't071', 't119')
    """
    found = [*timeline, *events]
    if len(found) <= MAX_EVENTS:
        return found
    return [found[0], *found[len(found) - MAX_EVENTS + 1 :]]


def alert_events(
    before: Mapping[str, str] | None, after: Mapping[str, str], at: str
) -> list[Event]:
    """The events of one alert message, from the incident's alerts (id → status) before and
    after it: the incident opened, an alert joined, an alert resolved.

    >>> alert_events(None, {"a1": "firing"}, "t1")
    [{'at': 't1', 'kind': 'opened', 'detail': 'a1'}]
    >>> [e["kind"] for e in alert_events({"a1": "firing"}, {"a1": "firing", "a2": "firing"}, "t")]
    ['alert_added']
    >>> alert_events({"a1": "firing"}, {"a1": "resolved"}, "t2")
    [{'at': 't2', 'kind': 'alert_resolved', 'detail': 'a1'}]
    """
    if before is None:
        return [event("opened", at, detail=",".join(sorted(after)))]
    found = []
    for alert_id, status in after.items():
        was = before.get(alert_id)
        if status == "firing" and was != "firing":  # joined, or fired again
            found.append(event("alert_added", at, detail=alert_id))
        elif status == "resolved" and was == "firing":
            found.append(event("alert_resolved", at, detail=alert_id))
    return found


def send_events(receiver: str, change: str, at: str, level: int = 0) -> list[Event]:
    """The events of a delivered notification (``change`` as :mod:`app.dispatch` names it).

    >>> [e["kind"] for e in send_events("boss", "escalation", "t", level=1)]
    ['escalated', 'notified']
    >>> send_events("ops", "firing", "t")
    [{'at': 't', 'kind': 'notified', 'receiver': 'ops', 'detail': 'firing'}]
    """
    found = []
    if change == "escalation":
        found.append(event("escalated", at, receiver=receiver, detail=f"level {level}"))
    found.append(event("notified", at, receiver=receiver, detail=change))
    return found


def close(incident: Mapping[str, Any], by: str, at: str) -> dict[str, Any]:
    """The incident after a person resolved it: closed; its firing alerts count as resolved.

    Closing is done once: an incident closed already, or resolved at its source, is returned
    unchanged (so the resolved notification is sent once).

    >>> i = {"status": "firing", "alerts": {"a1": "firing", "a2": "resolved"}, "timeline": []}
    >>> c = close(i, "ann", "2026-01-01T00:10:00Z")
    >>> c["status"], c["alerts"], c["closed"]["firing"], c["timeline"][-1]["by"]
    ('resolved', {'a1': 'resolved', 'a2': 'resolved'}, ['a1'], 'ann')
    >>> close(c, "bob", "2026-01-01T00:11:00Z") == c
    True
    """
    if incident.get("closed") is not None or incident.get("status") == "resolved":
        return dict(incident)
    alerts: Mapping[str, str] = incident["alerts"]
    firing = sorted(a for a, s in alerts.items() if s == "firing")
    closure: Closure = {"by": by, "at": at, "firing": firing}
    return {
        **incident,
        "status": "resolved",
        "alerts": {a: "resolved" for a in alerts},
        "closed": closure,
        "timeline": record(incident.get("timeline") or [], event("resolved", at, by=by)),
    }


def takes_firing(incident: Mapping[str, Any]) -> bool:
    """Whether a firing alert may still join the incident: not once a person closed it.

    >>> takes_firing({"status": "firing"}), takes_firing({"closed": {"by": "ann"}})
    (True, False)
    """
    return incident.get("closed") is None


def after_close(incident: Mapping[str, Any], status: str) -> Literal["ignore", "new_incident"]:
    """What a closed incident does with a later message of one of its alerts: a resolve is
    already counted (``ignore``); a firing message belongs to a new incident of the group.

    >>> after_close({"closed": {}}, "resolved"), after_close({"closed": {}}, "firing")
    ('ignore', 'new_incident')
    """
    return "new_incident" if status == "firing" else "ignore"


def view(incident: Mapping[str, Any]) -> dict[str, Any]:
    """``acknowledged_by/at``, ``resolved_by/at`` and ``timeline`` of an incident record.

    The acknowledgement is the first ``ack`` a person gave; the resolve is the closure (a person)
    or, while the notify stage records a person's resolve as its first feedback (``kind:
    resolve``), that feedback.

    >>> v = view({"first_seen": "2026-01-01T00:00:00Z", "status": "firing",
    ...           "acknowledged": {"kind": "ack", "by": "ann", "at": "2026-01-01T00:05:00Z"},
    ...           "notified": {"ops:firing": "2026-01-01T00:00:30Z"}})
    >>> v["acknowledged_by"], v["resolved_by"], [e["kind"] for e in v["timeline"]]
    ('ann', None, ['opened', 'notified', 'acknowledged'])
    """
    feedback = incident.get("acknowledged") or {}
    acked = feedback if feedback.get("kind") == "ack" else {}
    resolved: Mapping[str, Any] = incident.get("closed") or (
        feedback if feedback.get("kind") == "resolve" else {}
    )
    timeline = incident.get("timeline") or derived_timeline(incident)
    resolved_at = resolved.get("at") or _last_at(timeline, "resolved")
    return {
        "acknowledged_by": acked.get("by"),
        "acknowledged_at": acked.get("at"),
        "resolved_by": resolved.get("by"),
        "resolved_at": resolved_at if incident.get("status") == "resolved" or resolved else None,
        "timeline": timeline,
    }


def derived_timeline(incident: Mapping[str, Any]) -> list[Event]:
    """What a record without recorded events tells of its history: when it opened, whom it
    notified and when (``notified``: ``"<receiver>:<state>"`` → time), the acknowledgement, and a
    person's resolve; in time order.

    >>> line = derived_timeline({"first_seen": "t0", "notified": {"boss:escalation:1": "t2",
    ...     "ops:firing": "t1"}, "acknowledged": {"kind": "resolve", "by": "ann", "at": "t3"}})
    >>> [(e["kind"], e.get("receiver") or e.get("by")) for e in line]
    [('opened', None), ('notified', 'ops'), ('escalated', 'boss'), ('notified', 'boss'), \
('resolved', 'ann')]
    """
    found: list[Event] = []
    if incident.get("first_seen"):
        found.append(event("opened", incident["first_seen"]))
    for key, at in (incident.get("notified") or {}).items():
        receiver, _, state = key.partition(":")
        change, _, level = state.partition(":")
        found += send_events(receiver, change, at, int(level) if level.isdigit() else 0)
    feedback = incident.get("acknowledged") or {}
    if feedback.get("kind") == "ack":
        found.append(event("acknowledged", feedback["at"], by=feedback["by"]))
    closed = incident.get("closed") or (feedback if feedback.get("kind") == "resolve" else None)
    if closed:
        found.append(event("resolved", closed["at"], by=closed["by"]))
    found.sort(key=lambda e: e["at"])  # stable: an escalation stays before its notification
    return record([], *found)


def _last_at(timeline: Iterable[Event], kind: Kind) -> str | None:
    found = [e["at"] for e in timeline if e["kind"] == kind]
    return found[-1] if found else None
