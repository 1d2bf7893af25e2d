"""A correlation group's session window: which incident each of the group's alerts joins.

A group is the tenant, the alert's route and its values of the route's ``group_by``
(``tenant|route|values``, stamped by triage). An incident opens with the first firing alert of
a group and takes the group's next alerts while they keep coming (at most ``group_gap`` apart,
in event time: ``starts_at``), for at most ``max_duration``. A new firing alert joins, in this
order:

1. the incident of its own fingerprint's last episode, when no alert of the group is firing
   in it and it resolved at most ``group_gap`` ago — or whatever the gap when dedup held
   flapping changes back in between (``held_changes``): a flapping alert stays one incident;
2. the group's live incident: firing, the alert within its window — and in the alert's
   cluster (a ``cluster`` label), as no rule joins alerts of two clusters, and in the same
   phase of the alert's service (:mod:`app.correlation.phase`: a burst after a pause too long
   for its pace is another incident, whatever the window);
3. the incident of the storm its scope is in (triage's hint, ``storm``);
4. otherwise a new incident.

Tenant-wide joins (same groupKey, template, place, co-occurrence, storm) are not decided
here: triage merges whole incidents (:mod:`app.correlation.links`) from the summaries this
group sends when an incident opens in it or has no firing alert of it left.

State is two bounded rows: the group's *session* (:mod:`app.correlation.session`) — per
incident it holds alerts of (``parts``, at most ``MAX_PARTS``): ``[opened ms, newest alert ms,
touched ms, firing, alerts, open, cluster, phase]`` (``phase``: ``[service scope, start ms]``
of its newest alert) — and per fingerprint its last alert and incident (``f`` row).
Counts, never lists of alerts. A route's ``min_alerts`` / ``min_distinct_alerts`` count the
group's firing alerts (one per fingerprint: dedup passes one episode at a time). Each record
is applied once: a record whose ``seq`` is not above the fingerprint row's is a replay and
changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from app.correlation.index import CLUSTER as CLUSTER_LABEL
from app.correlation.index import places_of
from app.correlation.phase import service_scope
from app.correlation.session import (
    ALERTS,
    CLUSTER,
    FIRING,
    KEEP_FIRING_MS,
    KEEP_RESOLVED_MS,
    LAST,
    OPEN,
    OPENED,
    PHASE,
    TOUCHED,
    Fingerprint,
    Part,
    Session,
    bound,
    closed_summary,
)
from app.records import Alert, epoch_ms
from app.runtime.partitions import partition_of


@dataclass(frozen=True)
class Window:
    """What a group's route says about its incidents."""

    route: str = "root"
    gap_ms: int = 5 * 60_000
    max_ms: int = 4 * 3_600_000
    min_alerts: int = 1
    min_distinct: int = 1


@dataclass
class Decision:
    """The rows after one alert, the alert as it goes on, and the summaries for triage."""

    session: Session | None
    fingerprint: Fingerprint | None
    alert: Alert
    summaries: list[dict[str, Any]]
    changed: bool = True  # False for a replay: the rows stay as they were


def incident_id(group: str, opened_ms: int, partitions: int = 1) -> str:
    """A stable id for the incident ``group`` opened at ``opened_ms``, in the group's partition
    among ``partitions``: the stage that placed the alert keeps the incident too, with no hop.

    >>> incident_id("t|root|x", 0) == incident_id("t|root|x", 0) != incident_id("t|root|x", 1)
    True
    >>> all(partition_of(incident_id(f"t|root|{n}", 0, 8), 8) == partition_of(f"t|root|{n}", 8)
    ...     for n in range(50))
    True
    """
    home, name, salt = partition_of(group, partitions), f"{group}@{opened_ms}", 0
    while True:
        candidate = hashlib.blake2b(name.encode(), digest_size=10).hexdigest()
        if partition_of(candidate, partitions) == home:
            return candidate
        salt += 1
        name = f"{group}@{opened_ms}#{salt}"


def grouped_by(group: str, alert: Alert) -> str:
    """The ``group_by`` values of a group key (``tenant|route|values``).

    >>> grouped_by("t|root|service=db", {"tenant": "t", "route": "root"})
    'service=db'
    """
    return group[len(alert["tenant"]) + len(alert.get("route", "")) + 2 :]


def event_ms(alert: Alert, starts_ms: int) -> int:
    """When it happened: a resolve's end, else its start (``starts_ms``)."""
    ends = alert.get("ends_at")
    if alert["status"] == "resolved" and ends:
        return epoch_ms(ends)
    return starts_ms


def decide(
    session: Session | None,
    fingerprint: Fingerprint | None,
    alert: Alert,
    window: Window,
    group: str,
    at: int | None = None,
    partitions: int = 1,
) -> Decision:
    """Place ``alert`` in an incident of ``group`` (``at``: its ``starts_at`` in ms, when the
    caller has it already; a new incident's id lives in the group's partition among
    ``partitions``): the new rows (``session`` is left as it is: rows are shared), the alert
    with its incident, and the summaries.

    >>> a = {"id": "a1", "tenant": "t", "route": "root", "service": "db", "status": "firing",
    ...      "fingerprint": "f1", "labels": {}, "group_key": None, "template_id": "x",
    ...      "template": "Disk full on <*>", "reasons": [], "seq": 1,
    ...      "starts_at": "2026-01-01T00:00:00Z", "ends_at": None}
    >>> first = decide(None, None, a, Window(), "t|root|service=db")
    >>> first.alert["reasons"], [s["kind"] for s in first.summaries]
    (['opened a new incident grouped by service=db'], ['opened'])
    >>> b = {**a, "id": "a2", "fingerprint": "f2", "starts_at": "2026-01-01T00:04:00Z"}
    >>> second = decide(first.session, None, b, Window(), "t|root|service=db")
    >>> second.alert["incident_id"] == first.alert["incident_id"], second.alert["reasons"]
    (True, ['joined incident of 1 alerts: same service=db'])
    >>> late = {**a, "id": "a3", "fingerprint": "f3", "starts_at": "2026-01-01T00:30:00Z"}
    >>> decide(second.session, None, late, Window(), "t|root|service=db").alert["incident_id"] \\
    ...     == first.alert["incident_id"]
    False
    """
    seq = alert.get("seq")
    if fingerprint is not None and seq is not None and seq <= fingerprint.get("seq", -1):
        return _replayed(session, fingerprint, alert)
    parts = {incident: list(part) for incident, part in (session or {}).get("parts", {}).items()}
    closed = [incident for incident in (session or {}).get("closed", []) if incident in parts]
    session = {"parts": parts, "due": 0, **({"closed": closed} if closed else {})}
    at = epoch_ms(alert["starts_at"]) if at is None else at
    summaries: list[dict[str, Any]] = []
    if fingerprint is not None and fingerprint["alert"] == alert["id"]:
        incident, reason = _state_change(parts, fingerprint, alert, window, group, at, summaries)
    elif alert["status"] != "firing":
        incident = incident_id(group, at, partitions)
        parts[incident] = [at, at, event_ms(alert, at), 0, 1, 0, _cluster(alert), None]
        reason = "a resolve of an alert never seen firing: an incident of its own"
    else:
        incident, reason = _place(
            session, fingerprint, alert, window, group, at, summaries, partitions
        )
    part = parts.get(incident)
    if part is not None:
        part[OPEN] = part[OPEN] or int(
            part[FIRING] >= window.min_alerts and part[FIRING] >= window.min_distinct
        )
    touched = part[TOUCHED] if part is not None else event_ms(alert, at)
    opened = part[OPENED] if part is not None else at
    after: Fingerprint = {
        "incident": incident,
        "alert": alert["id"],
        "status": alert["status"],
        "seq": seq if seq is not None else -1,
        "touched": touched,
        "opened": opened,
        "due": touched + (KEEP_FIRING_MS if alert["status"] == "firing" else KEEP_RESOLVED_MS),
    }
    bound(session)
    reasons = [*alert["reasons"], reason]
    is_open = part is None or bool(part[OPEN])
    if not is_open:
        reasons.append(_waiting(window, part))  # type: ignore[arg-type]
    marked: Alert = {**alert, "incident_id": incident, "incident_open": is_open, "reasons": reasons}
    return Decision(session, after, marked, summaries)


def _replayed(session: Session | None, fingerprint: Fingerprint, alert: Alert) -> Decision:
    part = (session or {}).get("parts", {}).get(fingerprint["incident"])
    marked: Alert = {
        **alert,
        "incident_id": fingerprint["incident"],
        "incident_open": part is None or bool(part[OPEN]),
        "reasons": [*alert["reasons"], "applied before (a replay): the same incident"],
    }
    return Decision(session, fingerprint, marked, [], changed=False)


def _state_change(
    parts: dict[str, Part],
    fingerprint: Fingerprint,
    alert: Alert,
    window: Window,
    group: str,
    at: int,
    summaries: list[dict[str, Any]],
) -> tuple[str, str]:
    """A known alert changed state (or came again): its incident's counts follow."""
    incident = fingerprint["incident"]
    part = parts.get(incident)
    was, now = fingerprint["status"], alert["status"]
    if part is not None:
        part[TOUCHED] = max(part[TOUCHED], event_ms(alert, at))
        if was == "firing" and now == "resolved":
            part[FIRING] = max(0, part[FIRING] - 1)
            if part[FIRING] == 0:
                summaries.append(closed_summary(alert, group, incident, part))
        elif was != "firing" and now == "firing":
            part[FIRING] += 1
            if part[FIRING] == 1:
                summaries.append(_opened(alert, group, incident, part, window, at, first=False))
    firing = part[FIRING] if part is not None else 0
    if now == "resolved":
        if firing:
            return incident, f"resolved; {firing} firing alerts of its group remain in its incident"
        return incident, "resolved; no firing alert of its group is left in its incident"
    return incident, f"again in incident {incident}"


def _place(
    session: Session,
    fingerprint: Fingerprint | None,
    alert: Alert,
    window: Window,
    group: str,
    at: int,
    summaries: list[dict[str, Any]],
    partitions: int,
) -> tuple[str, str]:
    """The incident a new firing alert joins, or a new one, and why; its counts follow."""
    parts: dict[str, Part] = session["parts"]
    closed: list[str] = session.get("closed", [])
    chosen = _own_last(parts, fingerprint, alert, window, at)
    if chosen is not None and chosen[0] in closed:
        chosen = None  # a person closed it: a re-fire is news
    storm = alert.get("storm")
    first = False
    if chosen is None:
        live = _live(parts, window, alert, at, closed)
        if live is not None:
            alerts = parts[live][ALERTS]
            chosen = live, f"joined incident of {alerts} alerts: same {grouped_by(group, alert)}"
        elif storm:
            chosen = storm["incident_id"], storm["words"]
        else:
            chosen = (
                incident_id(group, at, partitions),
                (f"opened a new incident grouped by {grouped_by(group, alert)}"),
            )
            first = True
    incident, reason = chosen
    if fingerprint is not None and fingerprint["status"] == "firing":
        _superseded(parts, fingerprint, incident, alert, group, summaries)
    replaces = (
        fingerprint is not None
        and fingerprint["status"] == "firing"
        and fingerprint["incident"] == incident
    )
    part = parts.setdefault(incident, [at, at, at, 0, 0, 0, _cluster(alert), None])
    if len(part) <= PHASE:
        part.append(None)  # a part kept before phases
    part[PHASE] = _phase(alert) or part[PHASE]
    part[ALERTS] += 1
    part[LAST] = max(part[LAST], at)
    part[TOUCHED] = max(part[TOUCHED], at)
    if not replaces:
        part[FIRING] += 1
        if part[FIRING] == 1:
            opened = _opened(alert, group, incident, part, window, at, first=first)
            if storm and incident == storm["incident_id"]:
                opened["storm"] = storm["scope"]
            summaries.append(opened)
    return incident, reason


def _own_last(
    parts: dict[str, Part],
    fingerprint: Fingerprint | None,
    alert: Alert,
    window: Window,
    at: int,
) -> tuple[str, str] | None:
    """Rule 1: the incident of the fingerprint's last episode, if it takes the alert back."""
    if fingerprint is None or fingerprint["status"] == "firing":
        return None
    incident = fingerprint["incident"]
    part = parts.get(incident)
    if part is not None and part[FIRING] > 0:
        return None
    opened = part[OPENED] if part is not None else fingerprint["opened"]
    touched = part[TOUCHED] if part is not None else fingerprint["touched"]
    if at - opened > window.max_ms:
        return None
    if alert.get("held_changes"):
        return incident, (
            f"released after flapping ({alert.get('held_changes')} changes held back):"
            " the incident of its earlier episodes"
        )
    if 0 <= at - touched <= window.gap_ms:
        return incident, "fired again within the group gap after its incident resolved: the same"
    return None


def _superseded(
    parts: dict[str, Part],
    fingerprint: Fingerprint,
    incident: str,
    alert: Alert,
    group: str,
    summaries: list[dict[str, Any]],
) -> None:
    """A fingerprint's firing alert replaced by a new one in another incident stops counting
    there (dedup passes one episode of a fingerprint at a time)."""
    before = parts.get(fingerprint["incident"])
    if fingerprint["incident"] == incident or before is None or before[FIRING] == 0:
        return
    before[FIRING] -= 1
    if before[FIRING] == 0:
        summaries.append(closed_summary(alert, group, fingerprint["incident"], before))


def _live(
    parts: dict[str, Part], window: Window, alert: Alert, at: int, closed: list[str]
) -> str | None:
    """Rule 2: the newest incident of the group that is firing, within the gap of its newest
    alert and its lifetime, not closed by a person, and not in another cluster than the alert."""
    cluster = _cluster(alert)
    found, newest = None, -1
    for incident, part in parts.items():
        if part[FIRING] <= 0 or part[LAST] <= newest or incident in closed:
            continue
        if at - part[LAST] > window.gap_ms or at - part[OPENED] > window.max_ms:
            continue
        if cluster and part[CLUSTER] and part[CLUSTER] != cluster:
            continue
        if _apart(part, alert):
            continue
        found, newest = incident, part[LAST]
    return found


def _cluster(alert: Alert) -> str:
    return alert["labels"].get(CLUSTER_LABEL, "")


def _phase(alert: Alert) -> list[Any] | None:
    """``[service scope, phase start]`` of an alert triage stamped, else ``None``."""
    scope = service_scope(alert["service"])
    start = (alert.get("phase") or {}).get(scope)
    return None if start is None else [scope, start]


def _apart(part: Part, alert: Alert) -> bool:
    """Whether ``alert`` is of another phase of the service of the part's newest alert."""
    mine = _phase(alert)
    theirs = part[PHASE] if len(part) > PHASE else None
    return bool(mine and theirs and mine[0] == theirs[0] and mine[1] != theirs[1])


def _opened(
    alert: Alert, group: str, incident: str, part: Part, window: Window, at: int, first: bool
) -> dict[str, Any]:
    return {
        "kind": "opened",
        "first": first,
        "incident_id": incident,
        "tenant": alert["tenant"],
        "group": group,
        "route": alert.get("route", window.route),
        "opened_ms": part[OPENED],
        "at_ms": at,
        "gap_ms": window.gap_ms,
        "max_ms": window.max_ms,
        "template_id": alert.get("template_id"),
        "template": alert.get("template"),
        "places": places_of(alert["labels"]),
        "services": [alert["service"]] if alert["service"] else [],
        "group_key": alert.get("group_key"),
        "storm": None,
        "phase": alert.get("phase") or {},
    }


def _waiting(window: Window, part: Part) -> str:
    return (
        f"incident not open yet: route {window.route} needs {window.min_alerts} firing alerts"
        f" ({part[FIRING]} so far) and {window.min_distinct} distinct ({part[FIRING]})"
    )
