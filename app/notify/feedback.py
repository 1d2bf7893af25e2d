"""What people do with alerts and incidents: feedback, what it does, and the labels it gives.

Feedback (``alerts.feedback``, key alert id) reaches the notify stage through
``agents.incident_feedback`` as a ``notify.events`` record keyed by the incident it names
(:func:`incident_event`). There it is kept on the alert's member row, acts on the incident —
an acknowledgement (of an alert or of the incident) acknowledges it, resolving the *incident*
(``scope: "incident"``, what ``POST /api/v1/incidents/{id}/resolve`` writes) closes it — and
labels the alert for the tenant's model, on the features the model scored it with
(:mod:`app.learning.labels` has the rules):

- the first feedback on an alert labels it: its ``actionable``, weight 1 (incident feedback is
  written for the incident's alerts, a capped sample of them);
- a paged alert that resolves by itself within ``self_resolve_ms`` of its start, before anyone
  said anything, is a weak noise label.

Each label given is remembered on the member row, so a replay sends the same examples again
(the model learns an example id once) and never a second label.
"""

from __future__ import annotations

from typing import Any

from app.learning.features import kind_of
from app.learning.labels import LabelPolicy, Observation, human_example, self_resolve_example
from app.learning.labels import example as labelled_example
from app.learning.model import Example
from app.notify.incident import Incident, acknowledge, close
from app.notify.member import Member
from app.records import Feedback

KINDS = ("ack", "resolve")
SCOPES = ("alert", "incident")


def validate_feedback(value: Any) -> Feedback:
    """Check a feedback record from the topic; raise ``ValueError`` naming the bad field.

    >>> validate_feedback({"alert_id": "a", "kind": "ack", "actionable": True,
    ...                    "by": "ann", "at": "2026-01-01T00:00:00Z"})["kind"]
    'ack'
    >>> validate_feedback({"alert_id": "a", "kind": "snooze"})
    Traceback (most recent call last):
    ...
    ValueError: feedback.kind: expected one of ('ack', 'resolve'), got 'snooze'
    """
    if not isinstance(value, dict) or not isinstance(value.get("alert_id"), str):
        raise ValueError("feedback.alert_id: expected a string")
    if value.get("kind") not in KINDS:
        raise ValueError(f"feedback.kind: expected one of {KINDS}, got {value.get('kind')!r}")
    for field, kind in (("actionable", bool), ("by", str), ("at", str)):
        if not isinstance(value.get(field), kind):
            raise ValueError(f"feedback.{field}: expected {kind.__name__}")
    incident_id = value.get("incident_id")
    if incident_id is not None and not isinstance(incident_id, str):
        raise ValueError("feedback.incident_id: expected a string or null")
    if value.get("scope", "alert") not in SCOPES:
        raise ValueError(f"feedback.scope: expected one of {SCOPES}")
    return value  # type: ignore[return-value]


def incident_event(feedback: Feedback) -> dict[str, Any]:
    """The ``notify.events`` record for one piece of feedback.

    >>> incident_event({"alert_id": "a1", "incident_id": "i1", "kind": "ack", "by": "ann",
    ...                 "at": "t", "actionable": True})["kind"]
    'ack'
    """
    fields = ("alert_id", "incident_id", "kind", "actionable", "by", "at", "note", "scope")
    return {name: feedback.get(name) for name in fields} | {"scope": feedback.get("scope", "alert")}


def act(incident: Incident, feedback: dict[str, Any], at_ms: int) -> Incident:
    """The incident after a piece of feedback: acknowledged, or closed (incident resolve).

    >>> from app.notify.incident import change, fold
    >>> i = fold(None, change("a1", None, ["firing", False], at_ms=0, incident_id="i1"))
    >>> act(i, {"kind": "ack", "by": "ann", "at": "T", "scope": "alert"}, 5)["acknowledged"]
    {'kind': 'ack', 'by': 'ann', 'at': 'T'}
    >>> act(i, {"kind": "resolve", "by": "ann", "at": "T", "scope": "incident"}, 5)["status"]
    'resolved'
    """
    if feedback.get("scope") == "incident" and feedback["kind"] == "resolve":
        return close(incident, feedback["by"], feedback["at"], at_ms)
    return acknowledge(incident, feedback["kind"], feedback["by"], feedback["at"])


def observation(member: Member) -> Observation | None:
    """What the model saw of a member's alert, or ``None`` when nothing was scored."""
    alert = member["alert"]
    if member["features"] is None:
        return None
    seen: Observation = {
        "alert_id": alert["id"],
        "tenant": alert["tenant"],
        "kind": kind_of(alert),  # type: ignore[arg-type]
        "status": alert["status"],
        "features": member["features"],
        "score": alert.get("score") or 0.0,
        "decision": member["decision"] or "",
        "starts_at": alert["starts_at"],
        "ends_at": alert.get("ends_at"),
    }
    return seen


def label_feedback(member: Member, feedback: Feedback) -> tuple[Member, list[Example]]:
    """The first feedback on an alert labels it (with full weight, after a weak label too).

    >>> m = {"alert": {"id": "a1", "tenant": "t", "labels": {"alertname": "Lag"},
    ...      "status": "firing", "starts_at": "2026-01-01T00:00:00Z"}, "features": {"k": 1},
    ...      "decision": "notify", "labelled": {}}
    >>> f = {"kind": "resolve", "actionable": False, "by": "ann", "at": "2026-01-01T00:05:00Z"}
    >>> m, out = label_feedback(m, f)
    >>> [(e["id"], e["label"], e["source"], e["kind"]) for e in out]
    [('a1:human', False, 'resolve', 'Lag')]
    >>> label_feedback(m, {**f, "actionable": True})[1]
    []
    """
    seen = observation(member)
    if seen is None or "human" in member["labelled"]:
        return member, []
    given = human_example(seen, feedback)
    return _remember(member, "human", given, feedback["at"]), [given]


def label_resolve(member: Member, policy: LabelPolicy) -> tuple[Member, list[Example]]:
    """A paged alert that resolved by itself soon, nobody having said anything: weak noise.

    >>> m = {"alert": {"id": "a1", "tenant": "t", "labels": {}, "template_id": "t1",
    ...      "status": "resolved", "starts_at": "2026-01-01T00:00:00Z",
    ...      "ends_at": "2026-01-01T00:10:00Z"}, "features": {"k": 1}, "decision": "notify",
    ...      "labelled": {}}
    >>> m, out = label_resolve(m, LabelPolicy(self_resolve_ms=15 * 60_000))
    >>> [(e["id"], e["label"], e["weight"]) for e in out]
    [('a1:self_resolve', False, 0.3)]
    >>> label_resolve(m, LabelPolicy())[1]
    []
    """
    seen = observation(member)
    if seen is None or member["labelled"] or seen["status"] != "resolved":
        return member, []
    ended = seen["ends_at"] or seen["starts_at"]
    given = self_resolve_example(seen, ended, policy)
    if given is None:
        return member, []
    return _remember(member, "self_resolve", given, ended), [given]


def given(member: Member) -> list[Example]:
    """The examples a member's labels gave, rebuilt (to send again on a replay).

    >>> m = {"alert": {"id": "a1", "tenant": "t", "labels": {"alertname": "Lag"},
    ...      "status": "firing", "starts_at": "2026-01-01T00:00:00Z"}, "features": {"k": 1},
    ...      "decision": "notify", "labelled": {"human": [True, 1.0, "ack", "2026-01-01T00:01Z"]}}
    >>> [e["id"] for e in given(m)]
    ['a1:human']
    """
    seen = observation(member)
    if seen is None:
        return []
    return [
        labelled_example(seen, tag, label, weight, source, at)
        for tag, (label, weight, source, at) in member["labelled"].items()
    ]


def _remember(member: Member, tag: str, example: Example, at: str) -> Member:
    labelled = {
        **member["labelled"],
        tag: [example["label"], example["weight"], example["source"], at],
    }
    return {**member, "labelled": labelled}
