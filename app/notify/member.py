"""Member rows: one per alert, in its incident's partition — the alert view and its memory.

A member row (table ``members``, key alert id) holds the alert as last published on
``alerts.enriched`` (the answer of ``GET /api/v1/alerts/{id}``), what people did with it, the
features the model scored it with (what a label trains on), and what the stage applied last:
the ``seq`` dedup gave the record (each state change of an alert is applied once, whatever path
it took or how often it was replayed) and the last position of feedback. Its ``home`` is the
incident whose partition holds it: the incident it was first correlated into, even after that
incident merged into another one.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from app.notify.incident import Change
from app.records import INTERNAL_FIELDS, Alert

FEEDBACK_KEPT = 20  # pieces of feedback a member keeps (the last ones)


class Member(TypedDict):
    """A member row."""

    home: str  # the incident whose partition holds the row
    alert: dict[str, Any]  # as last published
    seq: int | None  # dedup's sequence number of the last record applied
    position: int  # position of the last record applied (``alerts.correlated``)
    muted: bool
    decision: str | None  # as first published: whether it paged anyone
    started_ms: int  # event time it started firing
    last_ms: int  # event time of its last change
    features: dict[str, Any] | None  # what the model saw at its first scoring
    feedback: list[dict[str, Any]]
    acknowledged: bool
    labelled: dict[str, list[Any]]  # tag → [label, weight, source, at ms]: labels given
    feedback_position: int  # position of the last feedback applied (``notify.events``)
    forwarded: NotRequired[dict[str, Any]]  # its last contribution to a merged incident


def is_replay(member: Member | None, alert: Alert, position: int) -> bool:
    """Whether ``member`` already holds this record of its alert (by ``seq``, else position).

    >>> m = {"seq": 3, "position": 70}
    >>> is_replay(m, {"seq": 3}, 99), is_replay(m, {"seq": 4}, 10), is_replay(m, {}, 70)
    (True, False, True)
    >>> is_replay(None, {"seq": 1}, 0)
    False
    """
    if member is None:
        return False
    seq = alert.get("seq")
    if seq is not None and member["seq"] is not None:
        return int(seq) <= member["seq"]
    return position <= member["position"]


def published(
    alert: Alert, muted_by: str | None, incident_id: str, merged_from: str | None
) -> dict[str, Any]:
    """The alert as ``alerts.enriched`` carries it: internal fields gone, muting applied.

    >>> a = {"id": "a1", "decision": "notify", "reasons": ["r"], "seq": 4, "features": {},
    ...      "incident_id": "i1"}
    >>> published(a, "silenced by s1", "i1", None)
    {'id': 'a1', 'decision': 'suppress', 'reasons': ['r', 'silenced by s1'], 'incident_id': 'i1'}
    >>> published(a, None, "j1", "i1")["merged_from"]
    'i1'
    """
    out: dict[str, Any] = dict(alert)
    for name in INTERNAL_FIELDS:
        out.pop(name, None)
    if muted_by is not None:
        out["decision"] = "suppress"
        out["reasons"] = [*alert["reasons"], muted_by]
    out["incident_id"] = incident_id
    if merged_from is not None:
        out["merged_from"] = merged_from
    return out


def apply(
    member: Member | None,
    alert: Alert,
    public: dict[str, Any],
    *,
    home: str,
    muted: bool,
    position: int,
    at_ms: int,
    labels: dict[str, str],
) -> tuple[Member, Change]:
    """The member after one record of its alert, and the change its incident folds in.

    >>> a = {"id": "a1", "tenant": "t", "status": "firing", "title": "x", "severity": "info",
    ...      "score": 0.2, "service": "db", "template": "x", "starts_at": "T", "seq": 1,
    ...      "decision": "notify", "reasons": [], "features": {"kind": "x"}}
    >>> m, c = apply(None, a, a, home="i1", muted=False, position=7, at_ms=5, labels={})
    >>> c["was"], c["now"], c["pages"], m["decision"], m["features"]
    (None, ['firing', False], True, 'notify', {'kind': 'x'})
    >>> r = {**a, "status": "resolved", "seq": 2, "features": {"kind": "later"}}
    >>> m, c = apply(m, r, r, home="i1", muted=False, position=8, at_ms=9, labels={})
    >>> c["was"], c["now"], m["features"], m["last_ms"]
    (['firing', False], ['resolved', False], {'kind': 'x'}, 9)
    """
    now = [alert["status"], muted]
    if member is None:
        was = None
        member = {
            "home": home,
            "alert": public,
            "seq": None,
            "position": -1,
            "muted": muted,
            "decision": public.get("decision"),
            "started_ms": at_ms,
            "last_ms": at_ms,
            "features": alert.get("features"),
            "feedback": [],
            "acknowledged": False,
            "labelled": {},
            "feedback_position": -1,
        }
    else:
        was = [member["alert"]["status"], member["muted"]]
        member = {**member, "alert": public, "muted": muted}
        if member["features"] is None:
            member["features"] = alert.get("features")
    seq = alert.get("seq")
    member["seq"] = None if seq is None else int(seq)
    member["position"] = position
    member["last_ms"] = max(member["last_ms"], at_ms)
    found: Change = {
        "id": alert["id"],
        "home": member["home"],
        "was": was,
        "now": now,
        "at_ms": at_ms,
        "incident_id": home,
        "tenant": alert["tenant"],
        "title": alert["title"],
        "severity": alert["severity"],
        "score": alert.get("score") or 0.0,
        "service": alert["service"],
        "template": alert.get("template"),
        "starts_at": alert["starts_at"],
        "reasons": public["reasons"],
        "pages": public.get("decision") == "notify" and alert["status"] == "firing",
        "opened": alert.get("incident_open", True) is not False,
        "labels": labels,
        "group": alert.get("group"),
    }
    return member, found


def take_feedback(member: Member, feedback: dict[str, Any], position: int) -> Member | None:
    """The member with one more piece of feedback, or ``None`` when it holds the same already.

    >>> m = {"feedback": [], "acknowledged": False, "feedback_position": -1}
    >>> f = {"alert_id": "a1", "kind": "ack", "actionable": True, "by": "ann", "at": "T"}
    >>> m = take_feedback(m, f, 10); m["acknowledged"], len(m["feedback"])
    (True, 1)
    >>> take_feedback(m, f, 11) is None
    True
    """
    kept = {name: feedback.get(name) for name in _FEEDBACK_FIELDS if name in feedback}
    if kept in member["feedback"]:
        return None
    return {
        **member,
        "feedback": [*member["feedback"], kept][-FEEDBACK_KEPT:],
        "acknowledged": member["acknowledged"] or feedback["kind"] == "ack",
        "feedback_position": position,
    }


def view(member: Member) -> dict[str, Any]:
    """What ``GET /api/v1/alerts/{id}`` answers: the alert, with its feedback.

    >>> view({"alert": {"id": "a1"}, "feedback": [], "acknowledged": False})
    {'id': 'a1', 'feedback': [], 'acknowledged': False}
    """
    return {
        **member["alert"],
        "feedback": member["feedback"],
        "acknowledged": member["acknowledged"],
    }


_FEEDBACK_FIELDS = ("alert_id", "incident_id", "kind", "actionable", "by", "at", "note", "scope")
