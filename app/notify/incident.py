"""The incident head: one small row, whatever the number of its alerts.

An incident is its head (this module) plus one member row per alert (:mod:`app.notify.member`,
the alert view). The head keeps counts, not lists — how many alerts joined, fire, are muted,
are shown to receivers — with capped samples of ids beside them, and the last ``RECENT``
changes of what receivers see, numbered by ``version``, from which a notification says what
changed (:mod:`app.notify.plan`). Every state change of a member is folded in as a
:class:`Change`; a merged incident hands its counts over (:mod:`app.notify.merge`) and becomes
a redirect to the incident it joined. (Over 400 lines because the head's fields, its fold and
the changes it records are one record type: split, each part would reach into the others.)

A 50,000-alert storm keeps the head at a few kB:

>>> head = None
>>> for n in range(50_000):
...     head = fold(head, change(f"a{n}", None, ["firing", False], at_ms=n, incident_id="i1"))
>>> head["alerts"], head["visible"], len(head["sample"]), len(head["recent"])
(50000, 50000, 20, 50)
>>> import orjson; len(orjson.dumps(head)) < 8_000
True
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from app.notify.timeline import TIMELINE, appended, count_alerts, event
from app.records import ms_time

SAMPLE = 20  # alert ids kept per sample (alert_ids, shown, muted; in notifications too)
MAX_GROUPS = 8  # correlation groups an incident remembers, to close their sessions
RECENT = 50  # the last visible changes kept, for "what changed since the last notification"
NAMES = 10  # services and templates kept
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


class Change(TypedDict):
    """A member's state change, as its incident folds it (``was`` is ``None`` for a new one)."""

    id: str  # alert id
    home: str  # the incident whose partition holds its member row
    was: list[Any] | None  # [status, muted] before
    now: list[Any]  # [status, muted] after
    at_ms: int  # event time of the change
    incident_id: str
    tenant: str
    title: str
    severity: str
    score: float
    service: str
    template: str | None
    starts_at: str
    reasons: list[str]
    pages: bool  # decided notify and not muted
    opened: bool  # correlate says the route's min_alerts are reached
    labels: dict[str, str]  # what routing sees (the head keeps its first alert's)
    group: NotRequired[str | None]  # its correlation group (triage's key of correlate)


class Incident(TypedDict):
    """The head row (table ``incidents``, key: incident id)."""

    id: str
    tenant: str
    status: str  # firing | resolved
    title: str
    severity: str
    score: float
    labels: dict[str, str]  # routing: the labels of the alert that opened it
    alerts: int  # alerts that joined
    firing: int  # of them firing now (muted ones included)
    visible: int  # firing and not muted: what receivers are told about
    muted: int  # muted (silenced or inhibited) at their last state
    sample: list[list[str]]  # [alert id, home incident] of the first SAMPLE alerts
    shown: list[str]  # up to SAMPLE visible firing alert ids
    muted_ids: list[str]  # up to SAMPLE muted alert ids
    recent: list[list[Any]]  # [version, alert id, "firing"|"gone"]: the last RECENT changes
    version: int  # visible changes so far
    services: list[str]
    templates: list[str]
    first_seen: str
    last_seen: str
    reasons: list[str]
    wants_page: bool  # a visible alert decided notify
    opened: bool  # the route's min_alerts were reached
    paged_ms: int | None  # event time it started to page
    judging: NotRequired[int]  # new: its first page waits for triage's verdict until then (wall)
    acknowledged: dict[str, Any] | None  # {kind, by, at}: the first acknowledgement
    closed: dict[str, Any] | None  # {by, at}: resolved by a person, until an alert fires again
    resolved_ms: int | None  # event time it last resolved
    timeline: list[dict[str, Any]]
    told: dict[str, dict[str, Any]]  # receiver → what it was told last (app.notify.plan)
    escalated: int
    notified: dict[str, str]  # "<receiver>:<state>" → when it was delivered (the last ones)
    threads: NotRequired[dict[str, str]]  # receiver → its first message (Slack ts): the thread
    logged: list[str]  # its notification log keys (the last ones; app.notify.retention)
    prune_ms: int | None  # resolved: event time from which its log entries go
    merged_into: str | None  # the incident it joined (then this head is a redirect)
    merged_ms: NotRequired[int]
    merged_from: list[str]  # incidents merged into it (a sample) …
    merged_count: int  # … and how many
    forwarded: int  # contributions sent on to ``merged_into``
    groups: NotRequired[list[str]]  # correlation groups of its alerts (the first MAX_GROUPS)
    handover: NotRequired[dict[str, Any]]  # its summary when merged (app.notify.merge)
    merge_position: NotRequired[int]


def change(
    alert_id: str,
    was: list[Any] | None,
    now: list[Any],
    *,
    at_ms: int,
    incident_id: str,
    **fields: Any,
) -> Change:
    """A change with defaults for the alert fields (for tests and benchmarks).

    >>> change("a1", None, ["firing", False], at_ms=0, incident_id="i1")["severity"]
    'warning'
    """
    found: Change = {
        "id": alert_id,
        "home": incident_id,
        "was": was,
        "now": now,
        "at_ms": at_ms,
        "incident_id": incident_id,
        "tenant": "t",
        "title": "Disk full",
        "severity": "warning",
        "score": 0.5,
        "service": "db",
        "template": "Disk full",
        "starts_at": ms_time(at_ms),
        "reasons": [],
        "pages": now[0] == "firing" and not now[1],
        "opened": True,
        "labels": {},
    }
    found.update(fields)  # type: ignore[typeddict-item]
    return found


def new_incident(incident_id: str, tenant: str, title: str, labels: dict[str, str]) -> Incident:
    """A head with nothing folded in yet."""
    return {
        "id": incident_id,
        "tenant": tenant,
        "status": "resolved",
        "title": title,
        "severity": "info",
        "score": 0.0,
        "labels": labels,
        "alerts": 0,
        "firing": 0,
        "visible": 0,
        "muted": 0,
        "sample": [],
        "shown": [],
        "muted_ids": [],
        "recent": [],
        "version": 0,
        "services": [],
        "templates": [],
        "first_seen": "",
        "last_seen": "",
        "reasons": [],
        "wants_page": False,
        "opened": False,
        "paged_ms": None,
        "acknowledged": None,
        "closed": None,
        "resolved_ms": None,
        "timeline": [],
        "told": {},
        "escalated": 0,
        "notified": {},
        "logged": [],
        "prune_ms": None,
        "merged_into": None,
        "merged_from": [],
        "merged_count": 0,
        "forwarded": 0,
    }


def fold(incident: Incident | None, found: Change) -> Incident:
    """The head after one member's change.

    >>> h = fold(None, change("a1", None, ["firing", False], at_ms=1000, incident_id="i1"))
    >>> h["status"], h["visible"], h["shown"], h["paged_ms"], h["recent"]
    ('firing', 1, ['a1'], 1000, [[1, 'a1', 'firing']])
    >>> h = fold(h, change("a2", None, ["firing", True], at_ms=2000, incident_id="i1"))
    >>> h["firing"], h["visible"], h["muted"], h["muted_ids"], h["version"]
    (2, 1, 1, ['a2'], 1)
    >>> h = fold(h, change("a1", ["firing", False], ["resolved", False], at_ms=3000,
    ...                    incident_id="i1"))
    >>> h["status"], h["shown"], h["recent"][-1]
    ('firing', [], [2, 'a1', 'gone'])
    >>> h = fold(h, change("a2", ["firing", True], ["resolved", True], at_ms=4000,
    ...                    incident_id="i1"))
    >>> h["status"], h["resolved_ms"], h["alerts"], h["firing"]
    ('resolved', 4000, 2, 0)
    """
    return fold_all(incident, [found])


def fold_all(incident: Incident | None, changes: list[Change]) -> Incident:
    """The head after several changes (one copy of the head for all of them).

    >>> h = fold_all(None, [change(f"a{n}", None, ["firing", False], at_ms=n, incident_id="i")
    ...                     for n in range(3)])
    >>> h["alerts"], [entry["kind"] for entry in h["timeline"]], h["timeline"][-1]["added"]
    (3, ['opened', 'firing', 'alerts'], 3)
    """
    head = copied(incident) if incident is not None else _opened(changes[0])
    for found in changes:
        _apply(head, found)
    return head


def _apply(head: Incident, found: Change) -> None:
    alert_id = found["id"]
    was_status, was_muted = found["was"] or (None, False)
    status, muted = found["now"]
    if found["was"] is None:
        head["alerts"] += 1
        if len(head["sample"]) < SAMPLE:
            head["sample"].append([alert_id, found["home"]])
    head["firing"] += (status == "firing") - (was_status == "firing")
    head["muted"] += int(muted) - int(was_muted)
    mark_muted(head, alert_id, muted)
    seen_before = was_status == "firing" and not was_muted
    seen_now = status == "firing" and not muted
    if seen_before != seen_now:
        head["visible"] += 1 if seen_now else -1
        note_visible(head, alert_id, seen_now)
    _take_fields(head, found)
    group = found.get("group")
    groups = head.get("groups") or []
    if group and group not in groups and len(groups) < MAX_GROUPS:
        head["groups"] = [*groups, group]
    if status == "firing" and was_status != "firing" and head["closed"] is not None:
        head["closed"] = None
        head["timeline"] = event(head["timeline"], found["at_ms"], "reopened")
    settle(head, found["at_ms"], pages=found["pages"], opened=found["opened"])
    resolved = was_status == "firing" and status != "firing"
    head["timeline"] = count_alerts(
        head["timeline"], found["at_ms"], new=found["was"] is None, resolved=resolved
    )


def acknowledge(incident: Incident, kind: str, by: str, at: str) -> Incident:
    """The incident once a person acknowledged it (the first acknowledgement counts).

    >>> h = new_incident("i1", "t", "x", {})
    >>> acknowledge(h, "ack", "ann", "T")["acknowledged"]
    {'kind': 'ack', 'by': 'ann', 'at': 'T'}
    >>> acknowledge(acknowledge(h, "ack", "ann", "T"), "ack", "bob", "U")["acknowledged"]["by"]
    'ann'
    """
    if incident["acknowledged"] is not None:
        return incident
    head = copied(incident)
    head["acknowledged"] = {"kind": kind, "by": by, "at": at}
    head["timeline"] = appended(head["timeline"], {"at": at, "kind": "acknowledged", "by": by})
    return head


def close(incident: Incident, by: str, at: str, at_ms: int) -> Incident:
    """The incident resolved by a person: it stays resolved until one of its alerts fires again.

    >>> h = fold(None, change("a1", None, ["firing", False], at_ms=0, incident_id="i1"))
    >>> c = close(h, "ann", "2026-01-01T00:00:00Z", 60_000)
    >>> c["status"], c["closed"], c["resolved_ms"], c["acknowledged"]["kind"]
    ('resolved', {'by': 'ann', 'at': '2026-01-01T00:00:00Z'}, 60000, 'resolve')
    >>> close(c, "bob", "later", 99) is c
    True
    """
    if incident["closed"] is not None or incident["merged_into"] is not None:
        return incident
    head = acknowledge(incident, "resolve", by, at)
    head = copied(head)
    head["closed"] = {"by": by, "at": at}
    head["timeline"] = appended(head["timeline"], {"at": at, "kind": "closed", "by": by})
    return settle(head, at_ms, pages=False, opened=False)


def note_sent(
    incident: Incident,
    receiver: str,
    state: str,
    change_kind: str,
    at: str,
    reference: str | None = None,
) -> Incident:
    """The incident once a notification was delivered: ``notified``, the timeline, and the
    receiver's first message (``reference``, e.g. Slack's ``ts``) as its thread.

    >>> h = note_sent(new_incident("i1", "t", "x", {}), "ops", "firing", "firing", "T", "17.1")
    >>> h["notified"], h["timeline"][-1]["kind"], h["threads"]
    ({'ops:firing': 'T'}, 'notified', {'ops': '17.1'})
    """
    head = copied(incident)
    notified = {**head["notified"], f"{receiver}:{state}": at}
    head["notified"] = dict(list(notified.items())[-TIMELINE:])
    threads = head.get("threads") or {}
    if reference and receiver not in threads:
        head["threads"] = {**threads, receiver: reference}
    entry = {"at": at, "kind": "notified", "receiver": receiver, "detail": change_kind}
    head["timeline"] = appended(head["timeline"], entry)
    return head


def visible_changes(incident: Incident, since: int) -> tuple[list[str], list[str], bool]:
    """Alert ids that became visible and that went since version ``since`` (samples), and
    whether the kept changes cover everything since then (else more changed than is shown).

    An alert that came and went in between is in neither list.

    >>> h = {"version": 4, "recent": [[2, "a", "firing"], [3, "b", "firing"], [4, "a", "gone"]]}
    >>> visible_changes(h, 1)
    (['b'], [], True)
    >>> visible_changes(h, 0)
    (['b'], [], False)
    """
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    kept = 0
    for version, alert_id, what in incident["recent"]:
        if version > since:
            kept += 1
            first.setdefault(alert_id, what)
            last[alert_id] = what
    added = sorted(a for a, what in last.items() if what == "firing" and first[a] == "firing")
    gone = sorted(a for a, what in last.items() if what == "gone" and first[a] == "gone")
    return added[:SAMPLE], gone[:SAMPLE], kept == incident["version"] - since


def _opened(found: Change) -> Incident:
    head = new_incident(found["incident_id"], found["tenant"], found["title"], found["labels"])
    head["first_seen"] = found["starts_at"]
    head["timeline"] = event(head["timeline"], found["at_ms"], "opened")
    return head


def copied(incident: Incident) -> Incident:
    """A copy whose lists and maps can change without touching ``incident``'s."""
    head: dict[str, Any] = dict(incident)
    for name in ("sample", "shown", "muted_ids", "recent", "services", "templates", "timeline"):
        head[name] = list(head[name])
    return head  # type: ignore[return-value]


def _take_fields(head: Incident, found: Change) -> None:
    head["severity"] = worse(head["severity"], found["severity"])
    if (found["score"] or 0.0) > head["score"]:
        head["score"] = found["score"]
    add_name(head["services"], found["service"])
    add_name(head["templates"], found["template"])
    starts = found["starts_at"]
    if starts > head["last_seen"]:
        head["last_seen"] = starts
    if not head["first_seen"] or starts < head["first_seen"]:
        head["first_seen"] = starts
    head["reasons"] = found["reasons"]


def settle(head: Incident, at_ms: int, *, pages: bool, opened: bool) -> Incident:
    """Status and paging after a change at event time ``at_ms``."""
    head["wants_page"] = head["wants_page"] or pages
    head["opened"] = head["opened"] or opened
    if head["wants_page"] and head["opened"] and head["paged_ms"] is None:
        head["paged_ms"] = at_ms
    firing = head["firing"] > 0 and head["closed"] is None and head["merged_into"] is None
    status = "firing" if firing else "resolved"
    if status != head["status"]:
        if status == "resolved":
            head["resolved_ms"] = at_ms
            head["prune_ms"] = None
        head["timeline"] = event(head["timeline"], at_ms, status)
        head["status"] = status
    return head


def note_visible(head: Incident, alert_id: str, shown: bool) -> None:
    """Record a visible change: a new version, the recent list and the shown sample."""
    head["version"] += 1
    head["recent"].append([head["version"], alert_id, "firing" if shown else "gone"])
    if len(head["recent"]) > RECENT:
        del head["recent"][0]
    if shown and alert_id not in head["shown"] and len(head["shown"]) < SAMPLE:
        head["shown"].append(alert_id)
    elif not shown and alert_id in head["shown"]:
        head["shown"].remove(alert_id)


def mark_muted(head: Incident, alert_id: str, muted: bool) -> None:
    if muted and alert_id not in head["muted_ids"] and len(head["muted_ids"]) < SAMPLE:
        head["muted_ids"].append(alert_id)
    elif not muted and alert_id in head["muted_ids"]:
        head["muted_ids"].remove(alert_id)


def add_name(names: list[str], name: str | None) -> None:
    if name and name not in names and len(names) < NAMES:
        names.append(name)


def worse(a: str, b: str) -> str:
    """The worse of two severities (the first when they rank alike).

    >>> worse("warning", "critical"), worse("warning", "P1")
    ('critical', 'warning')
    """
    if a == b or SEVERITY_RANK.get(b, 1) <= SEVERITY_RANK.get(a, 1):
        return a
    return b
