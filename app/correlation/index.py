"""A tenant's live incidents as the tenant-wide rules see them: small rows and indexes.

Triage learns of incidents from the summaries correlation sends when an incident opens in a
group or closes there (``incidents.opened``), and keeps, per incident, a row of what the rules
compare: when it opened, its newest known alert, its window, how many groups hold firing
alerts of it (``parts``), a few templates, places, services and Alertmanager groupKeys, whether
it collapses a storm, and — once merged — the incident it went ``into``. Indexes name the
incidents by groupKey, template and place (at most ``MAX_LISTED`` each, newest last), so a rule
reads a handful of rows whatever the number of live incidents.

Rows (tenant-prefixed, each with a ``due`` for expiry): ``<tenant>|i|<incident>`` and
``<tenant>|x|<kind>|<value>`` → ``{"ids": [...], "due"}`` for kinds ``g`` (groupKey), ``t``
(template) and ``l`` (place ``name=value``).
"""

from __future__ import annotations

from typing import Any

from app.correlation.phase import service_scope
from app.runtime.state import RowAccess

PLACE_LABELS = ("cluster", "namespace", "node", "instance", "host")
CLUSTER = "cluster"  # joins by storm, content or place never cross clusters
MAX_LISTED = 8  # incidents named per index value
MAX_TEMPLATES = 16  # per incident row …
MAX_TEMPLATE_CHARS = 512  # … of at most this many characters each (the words of a merge)
MAX_SERVICES = 16
MAX_GROUP_KEYS = 8
MAX_HOPS = 16  # merges followed to an incident's root
KEEP_FIRING_MS = 7 * 86_400_000  # an incident with firing parts is remembered this long …
KEEP_CLOSED_MS = 24 * 3_600_000  # … a closed one this long after its last summary

Incident = dict[str, Any]


def incident_key(tenant: str, incident_id: str) -> str:
    """Row of an incident.

    >>> incident_key("acme", "1f2e")
    'acme|i|1f2e'
    """
    return f"{tenant}|i|{incident_id}"


def index_key(tenant: str, kind: str, value: str) -> str:
    """Row of an index entry: ``g`` groupKey, ``t`` template, ``l`` place.

    >>> index_key("acme", "l", "cluster=eu-1")
    'acme|x|l|cluster=eu-1'
    """
    return f"{tenant}|x|{kind}|{value}"


def places_of(labels: dict[str, str]) -> dict[str, str]:
    """The place labels of an alert.

    >>> places_of({"cluster": "eu-1", "alertname": "X", "host": ""})
    {'cluster': 'eu-1'}
    """
    return {name: labels[name] for name in PLACE_LABELS if labels.get(name)}


def new_incident(summary: dict[str, Any]) -> Incident:
    """The row of an incident first seen in ``summary`` (an ``opened`` summary)."""
    template = summary.get("template_id")
    row: Incident = {
        "id": summary["incident_id"],
        "opened_ms": summary["opened_ms"],
        "last_ms": summary["opened_ms"],
        "gap_ms": summary["gap_ms"],
        "max_ms": summary["max_ms"],
        "parts": 0,
        "templates": (
            {template: (summary.get("template") or "")[:MAX_TEMPLATE_CHARS]} if template else {}
        ),
        "places": dict(summary.get("places") or {}),
        "services": [s for s in summary.get("services") or () if s][:MAX_SERVICES],
        "group_keys": [summary["group_key"]] if summary.get("group_key") else [],
        "storm": None,
        "into": None,
        "phases": dict(summary.get("phase") or {}),
        "due": 0,
    }
    row["due"] = due(row, summary["opened_ms"])
    return row


def storm_incident(
    incident_id: str, scope: str, at: int, cluster: str, phase: int | None = None
) -> Incident:
    """The row of an incident of its own for a storm of ``scope`` in its ``phase`` (``fresh``:
    it holds nothing of its own yet)."""
    places = {CLUSTER: cluster} if cluster else {}
    row: Incident = {
        **new_incident(
            {
                "incident_id": incident_id,
                "opened_ms": at,
                "gap_ms": 0,
                "max_ms": 0,
                "places": places,
                "phase": {} if phase is None else {scope: phase},
            }
        ),
        "storm": scope,
        "fresh": True,
    }
    return row


def due(row: Incident, at: int) -> int:
    """When an incident row may be forgotten: long after its newest alert while it has firing
    parts, a day after ``at`` (its last summary) once closed."""
    keep = KEEP_FIRING_MS if row["parts"] > 0 else KEEP_CLOSED_MS
    return max(int(row["last_ms"]), at) + keep


def root(rows: RowAccess, tenant: str, incident_id: str) -> Incident | None:
    """The incident ``incident_id`` went into through merges (itself when never merged), or
    ``None`` when forgotten.

    >>> from app.runtime.state import MemoryRows
    >>> rows = MemoryRows()
    >>> rows.put("t|i|a", {"id": "a", "into": "b"}); rows.put("t|i|b", {"id": "b", "into": None})
    >>> root(rows, "t", "a")["id"], root(rows, "t", "c")
    ('b', None)
    """
    row: Incident | None = rows.get(incident_key(tenant, incident_id))
    for _ in range(MAX_HOPS):
        if row is None or not row.get("into"):
            return row
        onward = rows.get(incident_key(tenant, row["into"]))
        if onward is None:
            return row
        row = onward
    return row


def live(row: Incident, at: int) -> bool:
    """Whether an incident still takes alerts of ``at``: firing parts, within its group gap
    of its newest alert and its lifetime.

    >>> i = {"parts": 1, "opened_ms": 0, "last_ms": 60_000, "gap_ms": 300_000, "max_ms": 10**7}
    >>> live(i, 300_000), live(i, 400_000), live({**i, "parts": 0}, 100_000)
    (True, False, False)
    """
    return bool(
        row["parts"] > 0
        and at - row["last_ms"] <= row["gap_ms"]
        and at - row["opened_ms"] <= row["max_ms"]
    )


def elsewhere(row: Incident, places: dict[str, str]) -> bool:
    """Whether alerts with ``places`` are in another cluster than the incident's.

    >>> incident = {"places": {"cluster": "eu-2"}}
    >>> [elsewhere(incident, p) for p in ({"cluster": "eu-1"}, {}, {"cluster": "eu-2"})]
    [True, False, False]
    """
    mine, theirs = places.get(CLUSTER), row["places"].get(CLUSTER)
    return bool(mine and theirs and mine != theirs)


def listed(rows: RowAccess, tenant: str, kind: str, value: str) -> list[str]:
    """The incidents an index entry names, newest last."""
    entry = rows.get(index_key(tenant, kind, value))
    return list(entry["ids"]) if entry else []


def list_under(
    rows: RowAccess, tenant: str, kind: str, value: str, incident_id: str, until: int
) -> None:
    """Name ``incident_id`` under an index entry (at most ``MAX_LISTED`` kept, newest last)."""
    key = index_key(tenant, kind, value)
    entry = rows.get(key) or {"ids": [], "due": 0}
    ids = [i for i in entry["ids"] if i != incident_id]
    rows.put(key, {"ids": [*ids, incident_id][-MAX_LISTED:], "due": max(entry["due"], until)})


def index(rows: RowAccess, tenant: str, row: Incident) -> None:
    """Name an incident under its groupKeys, templates and places."""
    for group_key in row["group_keys"]:
        list_under(rows, tenant, "g", group_key, row["id"], row["due"])
    for template in row["templates"]:
        list_under(rows, tenant, "t", template, row["id"], row["due"])
    for name, value in row["places"].items():
        list_under(rows, tenant, "l", f"{name}={value}", row["id"], row["due"])


def united(into: Incident, absorbed: Incident, at: int, storm: bool) -> Incident:
    """``into`` after ``absorbed`` merged into it: its parts, newest alert, content and places
    (the lists capped); a storm's incident also takes the earlier opening time.

    >>> a = {"id": "a", "opened_ms": 0, "last_ms": 5, "parts": 1, "templates": {"x": "X"},
    ...      "places": {"host": "h1"}, "services": ["db"], "group_keys": [], "due": 0}
    >>> b = {**a, "id": "b", "opened_ms": 9, "last_ms": 9, "templates": {"y": "Y"},
    ...      "places": {"host": "h2", "cluster": "c"}, "services": ["web"]}
    >>> u = united(a, b, 9, storm=False)
    >>> u["parts"], u["last_ms"], sorted(u["templates"]), u["places"], u["services"]
    (2, 9, ['x', 'y'], {'host': 'h1', 'cluster': 'c'}, ['db', 'web'])
    """
    services = list(dict.fromkeys([*into["services"], *absorbed["services"]]))[:MAX_SERVICES]
    phases = {**absorbed.get("phases", {}), **into.get("phases", {})}
    templates = dict(into["templates"])
    for template, text in absorbed["templates"].items():
        if len(templates) >= MAX_TEMPLATES:
            break
        templates.setdefault(template, text)
    merged: Incident = {
        **into,
        "opened_ms": min(into["opened_ms"], absorbed["opened_ms"]) if storm else into["opened_ms"],
        "last_ms": max(into["last_ms"], absorbed["last_ms"]),
        "parts": into["parts"] + absorbed["parts"],
        "templates": templates,
        "places": {**absorbed["places"], **into["places"]},
        "services": services,
        "group_keys": list(dict.fromkeys([*into["group_keys"], *absorbed["group_keys"]]))[
            -MAX_GROUP_KEYS:
        ],
        "phases": {scope: start for scope, start in phases.items() if _kept(scope, services)},
    }
    merged["due"] = due(merged, at)
    return merged


def _kept(scope: str, services: list[str]) -> bool:
    """Whether a merged row keeps the phase of ``scope``: of its kept services (at most
    ``MAX_SERVICES``) and of the tenant, so a storm that absorbs a thousand services' incidents
    does not grow its row with each.

    >>> _kept("tenant t", []), _kept("service db", ["db"]), _kept("service web", ["db"])
    (True, True, False)
    """
    return not scope.startswith(service_scope("")) or scope in map(service_scope, services)
