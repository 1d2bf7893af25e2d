"""A correlation group's session row: per incident it holds alerts of, a *part* of counts
(``[opened ms, newest alert ms, touched ms, firing, alerts, open, cluster, phase]``), the
incidents a person closed, and the bounds that keep the row small; and the summaries of it
that tell triage an incident closed."""

from __future__ import annotations

from typing import Any

from app.records import Alert

KEEP_RESOLVED_MS = 24 * 3_600_000  # a group part or fingerprint without firing alerts …
KEEP_FIRING_MS = 7 * 86_400_000  # … or with firing ones is remembered this long untouched
MAX_PARTS = 8  # incidents a group's session keeps counts of
OPENED, LAST, TOUCHED, FIRING, ALERTS, OPEN, CLUSTER, PHASE = range(8)  # fields of a part

Part = list[Any]
Session = dict[str, Any]  # {"parts": {incident id: Part}, "due": ms}
Fingerprint = dict[str, Any]  # {"incident", "alert", "status", "seq", "touched", "opened", "due"}


def close(session: Session | None, incident: str) -> Session | None:
    """The session once a person closed ``incident`` (resolved it through the API): it takes
    no more alerts, so the group's next firing alert opens a new incident (the last
    ``MAX_PARTS`` closings are kept, like the parts).

    >>> s = close({"parts": {"i1": [0, 0, 0, 1, 1, 1, ""]}, "due": 0}, "i1")
    >>> s["closed"], close(None, "i1")
    (['i1'], None)
    """
    if session is None:
        return None
    closed = [i for i in session.get("closed", []) if i != incident]
    return {**session, "closed": [*closed, incident][-MAX_PARTS:]}


def closed_by_person(session: Session, incident: str, tenant: str, group: str) -> dict[str, Any]:
    """The ``closed`` summary that tells triage a person closed ``incident``: the tenant-wide
    rules merge nothing into it any more.

    >>> closed_by_person({"parts": {"i1": [0, 0, 5, 1, 1, 1, ""]}}, "i1", "t", "g")["at_ms"]
    5
    """
    part = session["parts"].get(incident)
    touched = int(part[TOUCHED]) if part is not None else 0
    return {
        "kind": "closed",
        "incident_id": incident,
        "tenant": tenant,
        "group": group,
        "opened_ms": int(part[OPENED]) if part is not None else touched,
        "at_ms": touched,
        "by_person": True,
    }


def closed_summary(alert: Alert, group: str, incident: str, part: Part) -> dict[str, Any]:
    """The ``closed`` summary: no alert of the group is firing in ``incident`` any more."""
    return {
        "kind": "closed",
        "incident_id": incident,
        "tenant": alert["tenant"],
        "group": group,
        "opened_ms": part[OPENED],
        "at_ms": part[TOUCHED],
    }


def bound(session: Session) -> None:
    """At most ``MAX_PARTS`` parts: the ones without firing alerts go first, oldest first;
    the session is due when its last part is."""
    parts: dict[str, Part] = session["parts"]
    if len(parts) > MAX_PARTS:
        order = sorted(parts, key=lambda i: (parts[i][FIRING] > 0, parts[i][TOUCHED]))
        for incident in order[: len(parts) - MAX_PARTS]:
            del parts[incident]
    session["due"] = max(
        (p[TOUCHED] + (KEEP_FIRING_MS if p[FIRING] else KEEP_RESOLVED_MS) for p in parts.values()),
        default=0,
    )
