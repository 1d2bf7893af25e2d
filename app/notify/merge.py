"""Merges: an incident that joins another hands its counts over and becomes a redirect.

Triage decides that incident I joins J (``{"kind": "merge", "into": J}`` on ``notify.events``,
keyed by I). I's head becomes a redirect (:func:`redirect`): its receivers hear its alerts are
gone (``resolved``, with ``merged_into``), and its :class:`Summary` — counts, samples, names —
goes to J (:func:`absorb`). I's members stay in I's partition; their later changes are
forwarded to J as contributions (:mod:`app.notify.events`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from app.notify.incident import (
    SAMPLE,
    Incident,
    add_name,
    copied,
    mark_muted,
    new_incident,
    note_visible,
    settle,
    worse,
)
from app.notify.timeline import event


class Summary(TypedDict):
    """What a merged incident hands over to the incident it joins."""

    id: str
    tenant: str
    title: str
    labels: dict[str, str]
    severity: str
    score: float
    alerts: int
    firing: int
    visible: int
    muted: int
    sample: list[list[str]]
    shown: list[str]
    muted_ids: list[str]
    services: list[str]
    templates: list[str]
    first_seen: str
    last_seen: str
    wants_page: bool
    opened: bool


def merged_into(into: Mapping[str, str], incident_id: str) -> str:
    """The incident ``incident_id`` is part of after the merges ``into`` (absorbed incident →
    the incident it joined) made, following them at most 64 deep.

    >>> merged_into({"a": "b", "b": "c"}, "a"), merged_into({"a": "b"}, "x")
    ('c', 'x')
    """
    for _ in range(64):
        if incident_id not in into:
            break
        incident_id = into[incident_id]
    return incident_id


def redirect(incident: Incident, into: str, at_ms: int, reason: str) -> Incident:
    """The incident once merged into ``into``: a redirect, with its counts handed over.

    Its receivers hear that its alerts are gone (``resolved``, ``merged_into``); the handover
    is kept to be sent again should the merge be replayed.

    >>> from app.notify.incident import change, fold
    >>> h = fold(None, change("a1", None, ["firing", False], at_ms=0, incident_id="i1"))
    >>> r = redirect(h, "j1", 5000, "same storm")
    >>> r["status"], r["merged_into"], r["visible"], r["recent"][-1], r["handover"]["visible"]
    ('resolved', 'j1', 0, [2, 'a1', 'gone'], 1)
    """
    head = copied(incident)
    head["handover"] = dict(summary(incident))
    for alert_id in list(head["shown"]):
        note_visible(head, alert_id, False)
    if head["visible"] > len(incident["shown"]):  # changes beyond the sample: a bump
        head["version"] += 1
    head["merged_into"], head["merged_ms"] = into, at_ms
    head["firing"] = head["visible"] = head["muted"] = 0
    head["shown"], head["muted_ids"] = [], []
    head["reasons"] = [f"merged into incident {into}: {reason}"]
    head["timeline"] = event(head["timeline"], at_ms, "merged", into=into, reason=reason)
    return settle(head, at_ms, pages=False, opened=False)


def summary(incident: Incident) -> Summary:
    """What ``incident`` hands over when it joins another one."""
    fields = Summary.__annotations__
    return {name: incident[name] for name in fields}  # type: ignore[literal-required,return-value]


def absorb(
    incident: Incident | None, given: Summary, into: str, at_ms: int, reason: str
) -> Incident:
    """``into``'s head after a merged incident's summary joined it.

    >>> from app.notify.incident import change, fold
    >>> i = fold(None, change("a1", None, ["firing", False], at_ms=0, incident_id="i1"))
    >>> j = fold(None, change("b1", None, ["firing", False], at_ms=0, incident_id="j1"))
    >>> j = absorb(j, summary(i), "j1", 9000, "same storm")
    >>> j["alerts"], j["visible"], j["shown"], j["merged_from"], j["recent"][-1]
    (2, 2, ['b1', 'a1'], ['i1'], [2, 'a1', 'firing'])
    >>> absorb(None, summary(i), "j2", 9000, "storm")["sample"]
    [['a1', 'i1']]
    """
    if incident is None:
        head = new_incident(into, given["tenant"], given["title"], given["labels"])
        head["first_seen"] = given["first_seen"]
    else:
        head = copied(incident)
    for name in ("alerts", "firing", "muted"):
        head[name] += given[name]
    room = SAMPLE - len(head["sample"])
    head["sample"].extend(given["sample"][: max(room, 0)])
    for alert_id in given["muted_ids"]:
        mark_muted(head, alert_id, True)
    for alert_id in given["shown"]:
        note_visible(head, alert_id, True)
    if given["visible"] > len(given["shown"]):
        head["version"] += 1
    head["visible"] += given["visible"]
    head["severity"] = worse(head["severity"], given["severity"])
    head["score"] = max(head["score"], given["score"])
    for name in ("services", "templates"):
        for item in given[name]:  # type: ignore[literal-required]
            add_name(head[name], item)  # type: ignore[literal-required]
    head["first_seen"] = min(head["first_seen"] or given["first_seen"], given["first_seen"])
    head["last_seen"] = max(head["last_seen"], given["last_seen"])
    head["reasons"] = [f"incident {given['id']} merged into it: {reason}"]
    head["merged_count"] += 1
    if len(head["merged_from"]) < SAMPLE:
        head["merged_from"].append(given["id"])
    head["timeline"] = event(
        head["timeline"], at_ms, "absorbed", incident=given["id"], reason=reason
    )
    return settle(head, at_ms, pages=given["wants_page"], opened=given["opened"])
