"""The tenant-wide rules: which incident a new incident joins, decided once per new incident.

Correlation opens an incident per correlation group; these rules, run by triage on each
``opened`` summary (``incidents.opened``), merge the new incident ``I`` into a live incident
``J`` of the same tenant — in this order of preference:

1. ``J`` is firing and holds an alert of ``I``'s Alertmanager ``groupKey`` (upstream grouping
   is never split, whatever the gap or the lifetime);
2. ``I`` opened within a minute of the start of an alert storm of its tenant or one of its
   services, or while the storm took alerts (its alert came before the storm was known, or its
   summary after): ``J`` is the storm's incident;
3. ``J`` holds ``I``'s content template, when that template has at least two constant words;
4. ``J`` is in the same place (a shared ``cluster``, ``namespace``, ``node``, ``instance`` or
   ``host``), its newest known alert started at most ``PROXIMITY_MS`` before or after ``I``
   opened, and it is younger than ``PROPAGATION_MS``: how a failure spreads to the services
   that depend on it;
5. ``J`` holds a template that co-occurred with ``I``'s (:mod:`app.correlation.cooccurrence`).

Rules 2–5 never join across clusters, and a storm's incident (which holds every kind of
content) is left out of rules 3–5; rules 3–5 need ``J`` live (:func:`app.correlation.index.live`)
and never join two phases of one service, rule 2 never two phases of the storm's scope
(:mod:`app.correlation.phase`: a burst after a pause too long for its pace is another step).
When a storm starts, it collapses into the first incident of its scope opened in the minute
before and the others of that minute are merged into it (:func:`storm_started`); with none
known yet, into an incident of its own, which the first of them to be heard of replaces.
Each merge is one decision, ``{"kind": "merge", "into": J, "reason", "at_ms", "tenant"}``,
for the notify stage, keyed by the absorbed incident.
"""

from __future__ import annotations

from typing import Any

from app.correlation import cooccurrence, phase, storm
from app.correlation.index import (
    CLUSTER,
    Incident,
    due,
    elsewhere,
    incident_key,
    index,
    listed,
    live,
    new_incident,
    root,
    storm_incident,
    united,
)
from app.runtime.state import RowAccess

PROXIMITY_MS = 2 * 60_000  # a new incident this close to an incident's newest alert …
PROPAGATION_MS = 10 * 60_000  # … in the same place joins it while that one is this young
MINUTE_MS = 60_000
MAX_OPENED = 256  # unmerged incidents opened in the last minute, for a storm's start

Merge = tuple[str, dict[str, Any]]  # (absorbed incident id, merge decision)


def specific(template: str | None) -> bool:
    """A template with at least two constant words says enough to join on.

    >>> specific("Disk full on <*>"), specific("<*> <*>"), specific("error <*>")
    (True, False, False)
    """
    words = [t for t in (template or "").split() if t != "<*>" and any(c.isalpha() for c in t)]
    return len(words) >= 2


def opened(
    rows: RowAccess, tenant: str, head: dict[str, Any], summary: dict[str, Any]
) -> list[Merge]:
    """Take an ``opened`` summary: a new incident is indexed and maybe merged; a group that
    joins an incident again (``first`` false) makes it firing again."""
    known = rows.get(incident_key(tenant, summary["incident_id"])) is not None
    if known or not summary.get("first"):  # a group joins an incident (again)
        _part_opened(rows, tenant, summary)
        return []
    row = new_incident(summary)
    row["parts"] = 1
    row["due"] = due(row, summary["opened_ms"])
    at = row["opened_ms"]
    index(rows, tenant, row)
    found = _group_key(rows, tenant, row)
    if found is None:
        stormed = _storm(rows, tenant, head, row, at)
        if stormed is not None and stormed[0].get("fresh"):  # it takes the storm's place
            return [_adopt(rows, tenant, head, row, stormed[0], at)]
        found = stormed
    found = found or _template(rows, tenant, row, at) or _nearby(rows, tenant, row, at)
    found = found or _cooccurring(rows, tenant, row, at)
    recent = [o for o in head.get("opened", []) if at - o[0] <= MINUTE_MS]
    if found is None:  # a root of its own: a storm that starts may take it (storm_started)
        head["opened"] = [*recent[-(MAX_OPENED - 1) :], [at, row["id"]]]
        rows.put(incident_key(tenant, row["id"]), row)
        return []
    head["opened"] = recent  # merged: its root is listed itself when it opened in the minute
    into, reason = found
    return [_merge(rows, tenant, row, into, reason, at, storm_merge=bool(into["storm"]))]


def closed(rows: RowAccess, tenant: str, summary: dict[str, Any]) -> None:
    """Take a ``closed`` summary: one group of the incident has no firing alert left, or a
    person closed it (``by_person``: nothing joins it any more)."""
    row = root(rows, tenant, summary["incident_id"])
    if row is None:
        return
    row = {**row, "parts": 0 if summary.get("by_person") else max(0, row["parts"] - 1)}
    row["due"] = due(row, summary["at_ms"])
    rows.put(incident_key(tenant, row["id"]), row)


def storm_started(
    rows: RowAccess, tenant: str, head: dict[str, Any], scope: str, started: storm.Storm
) -> tuple[str, list[Merge]]:
    """The incident a storm that just started collapses into, and the merges into it: the
    firing incidents of its scope that opened in the minute before — the storm's first alerts,
    placed before anyone could know — go into the first of them; without any known yet, the
    storm gets an incident of its own (``fresh``: the first of them to be heard of takes its
    place, :func:`opened`)."""
    at, cluster = started[1], started[3]
    stamp = {scope: started[4]} if len(started) > 4 and started[4] is not None else {}
    reason = (
        f"opened in the minute before the alert storm of {scope} was detected:"
        " merged into the storm's incident"
    )
    first: dict[str, Incident] = {}
    for opened_ms, incident_id in head.get("opened", []):
        row = root(rows, tenant, incident_id) if at - opened_ms <= MINUTE_MS else None
        if row is None or row["storm"] or row["parts"] <= 0:
            continue
        if at - row["opened_ms"] > MINUTE_MS or not _in_scope(row, scope):
            continue
        if cluster and row["places"].get(CLUSTER, cluster) != cluster:
            continue
        if phase.apart(row.get("phases"), stamp, scope):
            continue  # opened in an earlier phase of the scope: another storm's, or none
        first.setdefault(row["id"], row)
    if not first:
        fresh = storm_incident(started[0], scope, at, cluster, stamp.get(scope))
        rows.put(incident_key(tenant, fresh["id"]), fresh)
        return fresh["id"], []
    into, *others = sorted(first.values(), key=lambda row: (row["opened_ms"], row["id"]))
    into = {**into, "storm": scope}
    rows.put(incident_key(tenant, into["id"]), into)
    merges: list[Merge] = []
    for row in others:
        merges.append(_merge(rows, tenant, row, into, reason, at, storm_merge=True))
        into = rows.get(incident_key(tenant, into["id"]))
    return into["id"], merges


def _merge(
    rows: RowAccess,
    tenant: str,
    absorbed: Incident,
    into: Incident,
    reason: str,
    at: int,
    storm_merge: bool,
) -> Merge:
    rows.put(incident_key(tenant, into["id"]), united(into, absorbed, at, storm_merge))
    rows.put(
        incident_key(tenant, absorbed["id"]),
        {**absorbed, "parts": 0, "into": into["id"], "due": due({**absorbed, "parts": 0}, at)},
    )
    merge = {"kind": "merge", "into": into["id"], "reason": reason, "at_ms": at, "tenant": tenant}
    return absorbed["id"], merge


def _adopt(
    rows: RowAccess,
    tenant: str,
    head: dict[str, Any],
    row: Incident,
    fresh: Incident,
    at: int,
) -> Merge:
    """A storm whose incident is still its own (``fresh``) collapses into ``row``, an incident
    of its first minute heard of late, instead: the fresh one (and whatever joined it by the
    hint) is merged into ``row``, and the storm's next alerts go there."""
    scope = fresh["storm"]
    adopted = {**row, "storm": scope}
    rows.put(incident_key(tenant, row["id"]), adopted)
    storms = head.get("storms", {})
    for name, current in storms.items():
        if current[0] == fresh["id"]:
            storms[name] = [row["id"], *current[1:]]  # replaced: the stored row may share it
    reason = (
        f"the alert storm of {scope} collapses into incident {row['id']}, which opened in its"
        " first minute"
    )
    return _merge(rows, tenant, {**fresh, "fresh": False}, adopted, reason, at, storm_merge=True)


def _part_opened(rows: RowAccess, tenant: str, summary: dict[str, Any]) -> None:
    row = root(rows, tenant, summary["incident_id"])
    if row is None:
        row = new_incident(summary)
        if summary.get("storm"):
            row["storm"] = summary["storm"]
    at = summary.get("at_ms", summary["opened_ms"])
    row = {**row, "parts": row["parts"] + 1, "last_ms": max(row["last_ms"], at)}
    row["due"] = due(row, at)
    rows.put(incident_key(tenant, row["id"]), row)


def _in_scope(row: Incident, scope: str) -> bool:
    return not scope.startswith("service ") or scope[len("service ") :] in row["services"]


def _candidates(rows: RowAccess, tenant: str, kind: str, value: str, row: Incident) -> list[Any]:
    """The distinct roots an index entry names, other than ``row``, newest listed first."""
    found: dict[str, Incident] = {}
    for incident_id in reversed(listed(rows, tenant, kind, value)):
        other = root(rows, tenant, incident_id)
        if other is not None and other["id"] != row["id"]:
            found.setdefault(other["id"], other)
    return list(found.values())


def _joinable(other: Incident, row: Incident, at: int) -> bool:
    """Rules 3–5: live, not a storm's incident, not in another cluster, not in another phase
    of one of its services."""
    if not live(other, at) or other["storm"] or elsewhere(other, row["places"]):
        return False
    mine, theirs = row.get("phases") or {}, other.get("phases") or {}
    return not any(
        phase.apart(mine, theirs, scope) for scope in mine if scope.startswith("service ")
    )


def _group_key(rows: RowAccess, tenant: str, row: Incident) -> tuple[Incident, str] | None:
    for group_key in row["group_keys"]:
        for other in _candidates(rows, tenant, "g", group_key, row):
            if other["parts"] > 0:
                return other, f"same Alertmanager group ({group_key}) as incident {other['id']}"
    return None


def _storm(
    rows: RowAccess, tenant: str, head: dict[str, Any], row: Incident, at: int
) -> tuple[Incident, str] | None:
    scopes = [f"tenant {tenant}", *(f"service {s}" for s in row["services"])]
    cluster = row["places"].get(CLUSTER, "")
    for scope in scopes:
        current = head.get("storms", {}).get(storm.storm_key(scope, cluster))
        if current is None:
            continue
        started, newest = current[1], current[2]
        if not started - MINUTE_MS <= at <= max(newest, started + MINUTE_MS):
            continue
        if len(current) > 4 and phase.apart(row.get("phases"), {scope: current[4]}, scope):
            continue
        into = root(rows, tenant, current[0])
        if into is None or elsewhere(into, row["places"]):
            continue
        return into, (
            f"opened as the alert storm of {scope} began, before it was known:"
            " merged into the storm's incident"
        )
    return None


def _template(rows: RowAccess, tenant: str, row: Incident, at: int) -> tuple[Incident, str] | None:
    template, text = next(iter(row["templates"].items()), (None, None))
    if template is None or not specific(text):
        return None
    found = [o for o in _candidates(rows, tenant, "t", template, row) if _joinable(o, row, at)]
    if not found:
        return None
    other = max(found, key=lambda o: o["last_ms"])
    return other, f"same template as incident {other['id']}: {text}"


def _nearby(rows: RowAccess, tenant: str, row: Incident, at: int) -> tuple[Incident, str] | None:
    """The newest young incident in the same place whose newest alert started just as close."""
    found: dict[str, Incident] = {}
    for name, value in row["places"].items():
        for other in _candidates(rows, tenant, "l", f"{name}={value}", row):
            found.setdefault(other["id"], other)
    for other in sorted(found.values(), key=lambda o: -o["last_ms"]):
        after = at - other["last_ms"]  # senders' delays reorder starts a little: either side
        if abs(after) > PROXIMITY_MS or at - other["opened_ms"] > PROPAGATION_MS:
            continue
        if not _joinable(other, row, at):
            continue
        shared = [f"{n}={v}" for n, v in row["places"].items() if other["places"].get(n) == v]
        if shared:
            return other, (
                f"started {abs(after) // 1000}s {'after' if after >= 0 else 'before'} the newest"
                f" alert of incident {other['id']}, in the same {', '.join(shared)}"
            )
    return None


def _cooccurring(
    rows: RowAccess, tenant: str, row: Incident, at: int
) -> tuple[Incident, str] | None:
    """The live incident holding the template that co-occurred most often with the new one's."""
    template = next(iter(row["templates"]), None)
    if template is None:
        return None
    best: tuple[Incident, str] | None = None
    most = 0
    for partner in cooccurrence.partners(rows, tenant, template):
        times, occasions = cooccurrence.evidence(rows, tenant, template, partner, at)
        if times <= most:
            continue
        for other in _candidates(rows, tenant, "t", partner, row):
            if partner in other["templates"] and _joinable(other, row, at):
                text = other["templates"][partner]
                words = f"on {times} of {occasions} occasions in {cooccurrence.COOCCUR_DAYS} days"
                best, most = (other, f"co-occurs with “{text}” {words}"), times
                break
    return best
