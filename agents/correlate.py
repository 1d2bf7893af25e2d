"""Stage 4: related alerts become one incident, in event-time session windows.

The route an alert lands on (:mod:`app.config`, first match) gives its correlation key — the
values of the route's ``group_by`` — and its window: an incident opens with the first firing
alert of a key and absorbs related alerts while they keep coming (at most ``group_gap`` apart),
for at most ``max_duration``. Event time is the alert's ``starts_at`` (the Kafka timestamp).

A new firing alert joins, in this order of preference:

1. the incident of its own fingerprint's last episode, when that incident resolved at most
   ``group_gap`` ago, or whatever the gap when dedup held flapping changes back in between
   (``held_changes``): a flapping alert stays one incident,
2. a firing incident holding an alert of the same Alertmanager ``groupKey`` (upstream grouping
   is never split, whatever the gap or the lifetime cap),
3. a firing incident with the alert's correlation key,
4. the alert storm of its tenant or service: when the rate of new alerts leaps far above its
   own baseline (an EWMA of new firing alerts per minute), the storm collapses into one
   incident — and the incidents the storm opened in its first minute, before it was detected,
   are merged into it; a storm's incident, which holds every kind of content, is left out of
   the content rules below,
5. a firing incident holding an alert with the same content template (one with at least two
   constant words),
6. a firing incident in the same place (a shared ``cluster``, ``namespace``, ``node``,
   ``instance`` or ``host`` label) whose newest alert started at most ``PROXIMITY_MS`` before,
   while the incident is younger than ``PROPAGATION_MS``: how a failure spreads to the
   services that depend on it,
7. a firing incident holding a template that co-occurred with the alert's template, within
   ``COOCCUR_MS``, on at least ``MIN_COOCCUR`` occasions in the last ``COOCCUR_DAYS`` days,
   and on at least half the occasions either template fired (so not by chance).

Rules 4–7 never join across clusters: an alert with a ``cluster`` label joins no incident
whose alerts carry another. Otherwise it opens a new incident. An incident is resolved when
all its alerts are. A route may require ``min_alerts`` firing alerts, or
``min_distinct_alerts`` distinct firing fingerprints, before the incident opens: until then
its alerts carry ``incident_open: false``.

State lives in the ``correlation`` table as many small rows, every one keyed by the tenant
first (``<tenant>``, ``<tenant>|i|<incident>``, ``<tenant>|a|<alert>`` …) and written while
handling an event of the tenant's partition, so every row stays in that partition. A decision
reads and writes only the rows it needs; expiry is incremental: each row that can expire is
listed in the bucket of the hour it expires in, and each message sweeps the buckets whose hour
has passed (in event time).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any, TypedDict

from agents.stage import emit, origin
from app import metrics, topics
from app.config import Route, group_key, group_labels, load_config, match
from app.records import Alert, epoch_ms
from tables.correlation import correlation as _correlation_table
from tables.write_behind import WriteBehind

correlation_table = WriteBehind(_correlation_table)

COOCCUR_MS = 5 * 60_000  # templates whose first alerts come this close co-occur
OCCASION_MS = 3_600_000  # a pair is counted at most once in this long: one occasion
COOCCUR_DAYS = 30
MIN_COOCCUR = 3  # co-occurrences before two templates' alerts join across keys …
COOCCUR_SHARE = 0.5  # … which must also be this share of the occasions of each template
PROXIMITY_MS = 2 * 60_000  # an alert this close after an incident's newest, in the same place …
PROPAGATION_MS = 10 * 60_000  # … joins it while the incident is younger than this
PLACE_LABELS = ("cluster", "namespace", "node", "instance", "host")
CLUSTER = "cluster"  # joins by storm, content or place never cross clusters
KEEP_RESOLVED_MS = 24 * 3_600_000  # a resolved incident is remembered this long
KEEP_FIRING_MS = 7 * 86_400_000  # an untouched firing incident is remembered this long
STORM_FACTOR = 5.0  # new alerts per minute above this multiple of the baseline …
STORM_MIN = 10  # … and at least this many in the last minute, make a storm
STORM_QUIET_MS = 2 * 60_000  # a storm ends when no new alert of its scope came for this long
EWMA_ALPHA = 0.1  # weight of the newest minute in the baseline
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
SWEEP_HOURS = 48  # expiry buckets looked at per message at most
BUCKET_CHUNK = 64  # keys per row of an expiry bucket


class Incident(TypedDict):
    """An incident as the correlation stage remembers it (row ``<tenant>|i|<id>``)."""

    id: str
    key: str  # correlation key it opened with
    route: str
    opened_ms: int
    last_ms: int  # newest alert it absorbed
    touched_ms: int  # newest message about any of its alerts
    gap_ms: int
    max_ms: int
    min_alerts: int
    min_distinct: int
    alerts: dict[str, str]  # alert id → status
    fingerprints: dict[str, str]  # alert id → fingerprint
    templates: dict[str, str]  # template id → template
    places: dict[str, str]  # place label → first value seen
    services: list[str]
    groups: list[str]  # Alertmanager groupKeys of its alerts
    merged: list[str]  # incidents merged into this one
    storm: str | None  # scope whose storm it collapses
    open: bool  # reached the route's min_alerts and min_distinct_alerts once
    due: int  # forgotten after this event time


class Head(TypedDict):
    """The tenant's row: indexes of what may still absorb alerts, rates, the sweep position."""

    offset: int
    live: dict[str, list[int]]  # firing incident → [opened ms, newest alert ms, gap, max]
    keys: dict[str, str]  # correlation key → incident id
    groups: dict[str, str]  # Alertmanager groupKey → incident id
    recent: list[list[Any]]  # [ms, template id] of new firing alerts within COOCCUR_MS
    rates: dict[str, list[float]]  # scope → [minute, count, mean, variance, previous count]
    storms: dict[str, list[Any]]  # scope → [incident id of its storm, newest alert ms]
    swept: int  # expiry buckets up to this hour are swept


State = dict[str, Any]  # the rows of the correlation table, by key


class Rows:
    """The rows one decision reads and the writes it makes (``None`` deletes a row).

    >>> rows = Rows({"a": 1}.get)
    >>> rows.put("b", 2); rows.delete("a"); rows.get("a"), rows.get("b"), rows.writes
    (None, 2, {'b': 2, 'a': None})
    """

    def __init__(self, read: Callable[[str], Any]) -> None:
        self._read = read
        self.writes: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        """The row as this decision left it."""
        return self.writes[key] if key in self.writes else self._read(key)

    def put(self, key: str, row: Any) -> None:
        """Write a row."""
        self.writes[key] = row

    def delete(self, key: str) -> None:
        """Delete a row."""
        self.writes[key] = None


def empty_state() -> State:
    """The rows of a correlation table that has seen nothing."""
    return {}


def incident_id(key: str, opened_ms: int) -> str:
    """A stable id for the incident that ``key`` opened at ``opened_ms``."""
    return hashlib.blake2b(f"{key}@{opened_ms}".encode(), digest_size=10).hexdigest()


def correlation_key(route: Route, alert: Alert) -> str:
    """The key alerts are grouped by on ``route``.

    >>> correlation_key(Route(), {"tenant": "t", "service": "db", "labels": {"alertname": "X"}})
    'root:tenant=t,service=db,alertname=X'
    """
    return f"{route.name}:{group_key(route, group_labels(alert))}"


def decide(state: State, alert: Alert, route: Route, offset: int) -> tuple[State, Alert]:
    """The new rows and ``alert`` with its ``incident_id``, ``incident_open`` and reason.

    >>> s = empty_state()
    >>> a = {"id": "a1", "tenant": "t", "service": "db", "status": "firing", "fingerprint": "f1",
    ...      "labels": {"alertname": "DiskFull"}, "group_key": None, "template_id": "x",
    ...      "template": "Disk full on <*>", "title": "Disk full on db1", "reasons": [],
    ...      "starts_at": "2026-01-01T00:00:00Z", "ends_at": None}
    >>> s, first = decide(s, a, Route(), 1)
    >>> first["reasons"]
    ['opened a new incident grouped by tenant=t,service=db,alertname=DiskFull']
    >>> b = {**a, "id": "a2", "fingerprint": "f2", "starts_at": "2026-01-01T00:04:00Z"}
    >>> s, second = decide(s, b, Route(), 2)
    >>> second["incident_id"] == first["incident_id"], second["reasons"][0][:31]
    (True, 'joined incident of 1 alerts: sa')
    >>> late = {**a, "id": "a3", "starts_at": "2026-01-01T00:30:00Z"}
    >>> decide(s, late, Route(), 3)[1]["incident_id"] == first["incident_id"]
    False
    """
    rows = Rows(state.get)
    marked = correlate_one(rows, alert, route, offset)
    new = {**state, **rows.writes}
    for key, row in rows.writes.items():
        if row is None:
            del new[key]
    return new, marked


def correlate_one(rows: Rows, alert: Alert, route: Route, offset: int) -> Alert:
    """Place ``alert`` in an incident, recording the changes in ``rows``; the marked alert."""
    tenant = alert["tenant"]
    at = epoch_ms(alert["starts_at"])
    head = _head(rows, tenant)
    replay = offset <= head["offset"]
    head["offset"] = max(offset, head["offset"])
    known = _incident_of(rows, tenant, alert["id"])
    merged_from = None
    reasons = list(alert["reasons"])
    if known is not None:
        incident, merged_from = known
        reason = _state_change(incident, alert)
        if merged_from:
            reason += f" (merged into it from incident {merged_from})"
    elif alert["status"] != "firing":
        incident = _open(alert, route, at, correlation_key(route, alert))
        reason = "a resolve of an alert never seen firing: an incident of its own"
    else:
        if not replay:
            _count_rate(head, alert, at)
        incident, reason = _place(rows, head, alert, route, at)
    incident = _absorb(incident, alert, at)
    reasons.append(reason)
    _save(rows, head, incident, alert)
    if known is None and alert["status"] == "firing":
        rows.put(_key(tenant, "f", alert["fingerprint"]), incident["id"])
        if not replay:
            _learn_cooccurrence(rows, head, alert, at)
            reasons += _note_storm(rows, head, alert, incident["id"], at)
    _prune(rows, head, tenant, at)
    rows.put(tenant, head)
    opened = rows.get(_key(tenant, "i", incident["id"]))["open"]
    if not opened:
        reasons.append(_waiting(incident))
    marked: Alert = {**alert, "incident_id": incident["id"], "reasons": reasons}
    marked["incident_open"] = opened
    if merged_from:
        marked["merged_from"] = merged_from
    return marked


def incident_of(state: State, tenant: str, alert_id: str) -> str | None:
    """The incident an alert belongs to now (after merges), or ``None`` once forgotten."""
    row = state.get(_key(tenant, "a", alert_id))
    return row["incident"] if row else None


def is_open(incident: Incident) -> bool:
    """Whether the incident has the firing alerts its route requires."""
    firing = [a for a, status in incident["alerts"].items() if status == "firing"]
    distinct = {incident["fingerprints"][a] for a in firing}
    return len(firing) >= incident["min_alerts"] and len(distinct) >= incident["min_distinct"]


def _key(tenant: str, kind: str, name: str) -> str:
    """Row keys begin with the tenant: the stream's key, so every row sits in its partition.

    >>> _key("acme", "i", "1f2e")
    'acme|i|1f2e'
    """
    return f"{tenant}|{kind}|{name}"


def _head(rows: Rows, tenant: str) -> Head:
    row = rows.get(tenant)
    if row is None or "live" not in row:  # none yet, or a row of an older version: start afresh
        return {
            "offset": row.get("offset", -1) if row else -1,
            "live": {},
            "keys": {},
            "groups": {},
            "recent": [],
            "rates": row.get("rates", {}) if row else {},
            "storms": {},
            "swept": -1,
        }
    return {**row}  # type: ignore[return-value]


def _incident_of(rows: Rows, tenant: str, alert_id: str) -> tuple[Incident, str | None] | None:
    entry = rows.get(_key(tenant, "a", alert_id))
    if entry is None:
        return None
    incident = rows.get(_key(tenant, "i", entry["incident"]))
    return None if incident is None else (incident, entry.get("from"))


def _state_change(incident: Incident, alert: Alert) -> str:
    others = sum(1 for a, s in incident["alerts"].items() if s == "firing" and a != alert["id"])
    if alert["status"] == "resolved":
        if others:
            return f"resolved; its incident still has {others} firing alerts"
        return "resolved; every alert of its incident is resolved, so the incident is"
    return f"again in incident {incident['id']}"


def _place(rows: Rows, head: Head, alert: Alert, route: Route, at: int) -> tuple[Incident, str]:
    """The incident a new firing alert joins, or a new one, and why."""
    tenant = alert["tenant"]

    def incident(iid: str | None) -> Incident | None:
        return rows.get(_key(tenant, "i", iid)) if iid else None

    before = incident(rows.get(_key(tenant, "f", alert["fingerprint"])))
    if before is not None and not _firing(before) and _within_life(before, at):
        if alert.get("held_changes"):
            return before, (
                f"released after flapping ({alert.get('held_changes')} changes held back):"
                f" the incident of its earlier episodes"
            )
        if 0 <= at - before["touched_ms"] <= before["gap_ms"]:
            return before, "fired again within the group gap after its incident resolved: the same"
    grouped = incident(head["groups"].get(alert["group_key"] or ""))
    if grouped is not None and _firing(grouped):
        return grouped, f"same Alertmanager group ({alert['group_key']}) as incident"
    key = correlation_key(route, alert)
    grouped_by = key.split(":", 1)[1]
    keyed = incident(head["keys"].get(key))
    if keyed is not None and _absorbs(keyed, at):
        return keyed, f"joined incident of {len(keyed['alerts'])} alerts: same {grouped_by}"
    for scope in _scopes(alert):
        storm_id, last = head["storms"].get(scope, ("", 0))
        storm = incident(storm_id)
        if (
            storm is not None
            and at - last <= STORM_QUIET_MS
            and _within_life(storm, at)
            and not _elsewhere(storm, alert["labels"])
        ):
            head["storms"] = {**head["storms"], scope: [storm_id, max(last, at)]}
            return storm, _storm_words(head, scope, at)
    live = sorted(
        ((iid, brief) for iid, brief in head["live"].items() if _brief_absorbs(brief, at)),
        key=lambda item: -item[1][1],
    )
    candidates = [  # a storm holds every kind of content: it attracts nothing by content
        i
        for i in (incident(iid) for iid, _ in live)
        if i and _firing(i) and not i["storm"] and not _elsewhere(i, alert["labels"])
    ]
    template = alert["template_id"]
    if template and _specific(alert["template"]):
        for found in candidates:
            if template in found["templates"]:
                return found, f"same template as incident {found['id']}: {alert['template']}"
    near = _nearby(alert, candidates, at)
    if near is not None:
        return near
    best = _cooccurring(rows, tenant, template, candidates, at)
    if best is not None:
        found, other, times = best
        return found, f"co-occurs with “{other}” {times} in {COOCCUR_DAYS} days"
    opened = _open(alert, route, at, key)
    head["keys"] = {**head["keys"], key: opened["id"]}
    return opened, f"opened a new incident grouped by {grouped_by}"


def _nearby(alert: Alert, candidates: list[Incident], at: int) -> tuple[Incident, str] | None:
    """The newest young incident in the same place whose newest alert started just as close.

    >>> i = {"id": "i1", "opened_ms": 0, "last_ms": 0, "places": {"cluster": "eu-1"}}
    >>> a = {"labels": {"cluster": "eu-1", "alertname": "HighLatency"}}
    >>> _nearby(a, [i], 90_000)[1]
    'started 90s after the newest alert of incident i1, in the same cluster=eu-1'
    >>> _nearby(a, [{**i, "last_ms": 100_000}], 90_000)[1][:42]
    'started 10s before the newest alert of inc'
    >>> _nearby(a, [i], 150_000) is None, _nearby({"labels": {}}, [i], 1_000) is None
    (True, True)
    """
    mine = {name: alert["labels"][name] for name in PLACE_LABELS if alert["labels"].get(name)}
    for incident in candidates:
        after = at - incident["last_ms"]  # senders' delays reorder starts a little: either side
        if abs(after) > PROXIMITY_MS or at - incident["opened_ms"] > PROPAGATION_MS:
            continue
        shared = [f"{n}={v}" for n, v in mine.items() if incident["places"].get(n) == v]
        if shared:
            return incident, (
                f"started {abs(after) // 1000}s {'after' if after >= 0 else 'before'} the newest"
                f" alert of incident {incident['id']}, in the same {', '.join(shared)}"
            )
    return None


def _open(alert: Alert, route: Route, at: int, key: str) -> Incident:
    return {
        "id": incident_id(f"{alert['tenant']}|{key}", at),
        "key": key,
        "route": route.name,
        "opened_ms": at,
        "last_ms": at,
        "touched_ms": at,
        "gap_ms": route.group_gap_ms,
        "max_ms": route.max_duration_ms,
        "min_alerts": route.min_alerts,
        "min_distinct": route.min_distinct_alerts,
        "alerts": {},
        "fingerprints": {},
        "templates": {},
        "places": {},
        "services": [],
        "groups": [],
        "merged": [],
        "storm": None,
        "open": False,
        "due": at + KEEP_FIRING_MS,
    }


def _absorb(incident: Incident, alert: Alert, at: int) -> Incident:
    templates = dict(incident["templates"])
    if alert["template_id"] and len(templates) < 50:
        templates.setdefault(alert["template_id"], alert["template"] or "")
    places = dict(incident["places"])
    for name in PLACE_LABELS:
        if alert["labels"].get(name):
            places.setdefault(name, alert["labels"][name])
    new = alert["id"] not in incident["alerts"]
    group = alert["group_key"]
    touched = max(incident["touched_ms"], _event_ms(alert))
    grown: Incident = {
        **incident,
        "alerts": {**incident["alerts"], alert["id"]: alert["status"]},
        "fingerprints": {**incident["fingerprints"], alert["id"]: alert["fingerprint"]},
        "templates": templates,
        "places": places,
        "services": _added(incident["services"], alert["service"]),
        "groups": _added(incident["groups"], group if alert["status"] == "firing" else None),
        "last_ms": max(incident["last_ms"], at) if new else incident["last_ms"],
        "touched_ms": touched,
    }
    grown["open"] = incident["open"] or is_open(grown)  # once open, it stays open
    grown["due"] = touched + (KEEP_FIRING_MS if _firing(grown) else KEEP_RESOLVED_MS)
    return grown


def _save(rows: Rows, head: Head, incident: Incident, alert: Alert) -> None:
    """Write the incident, its alert's index row, and keep the head's indexes in step."""
    tenant = alert["tenant"]
    key = _key(tenant, "i", incident["id"])
    before = rows.get(key)
    rows.put(key, incident)
    if rows.get(_key(tenant, "a", alert["id"])) is None:
        rows.put(_key(tenant, "a", alert["id"]), {"incident": incident["id"]})
    _expire_at(rows, tenant, key, incident["due"], before["due"] if before else None)
    iid = incident["id"]
    if _firing(incident):
        brief = [incident["opened_ms"], incident["last_ms"], incident["gap_ms"], incident["max_ms"]]
        head["live"] = {**head["live"], iid: brief}
        if alert["group_key"] and alert["status"] == "firing":
            head["groups"] = {**head["groups"], alert["group_key"]: iid}
    else:
        _unindex(head, incident)


def _unindex(head: Head, incident: Incident) -> None:
    """Drop an incident that can absorb nothing any more from the head's indexes."""
    iid = incident["id"]
    head["live"] = {k: v for k, v in head["live"].items() if k != iid}
    head["keys"] = {k: v for k, v in head["keys"].items() if v != iid}
    head["groups"] = {k: v for k, v in head["groups"].items() if v != iid}
    head["storms"] = {k: v for k, v in head["storms"].items() if v[0] != iid}


def _expire_at(rows: Rows, tenant: str, key: str, due: int, before: int | None) -> None:
    """List ``key`` in the expiry bucket of the hour ``due`` falls in (once per hour).

    A bucket is a count (row ``w``) and chunks of ``BUCKET_CHUNK`` keys (rows ``c``), so
    listing a key rewrites two short rows, not the hour's whole list.
    """
    if before is not None and before // HOUR_MS == due // HOUR_MS:
        return
    hour = due // HOUR_MS
    bucket = _key(tenant, "w", str(hour))
    count = rows.get(bucket) or 0
    if isinstance(count, list):  # a bucket of a version that kept one list
        if key not in count:
            rows.put(bucket, [*count, key])
        return
    chunk = _key(tenant, "c", f"{hour}.{count // BUCKET_CHUNK}")
    rows.put(chunk, [*(rows.get(chunk) or []), key])
    rows.put(bucket, count + 1)


def _bucket_keys(rows: Rows, tenant: str, hour: int) -> list[str]:
    """The keys listed in the expiry bucket of ``hour``; the bucket is deleted on the way."""
    bucket = _key(tenant, "w", str(hour))
    count = rows.get(bucket) or 0
    rows.delete(bucket)
    if isinstance(count, list):
        return count
    keys: list[str] = []
    for chunk in range(-(-count // BUCKET_CHUNK)):
        keys.extend(rows.get(_key(tenant, "c", f"{hour}.{chunk}")) or [])
        rows.delete(_key(tenant, "c", f"{hour}.{chunk}"))
    return keys


def _added(items: list[str], item: str | None) -> list[str]:
    return items if not item or item in items else [*items, item]


def _event_ms(alert: Alert) -> int:
    """When it happened: a resolve's end, else the start."""
    if alert["status"] == "resolved" and alert.get("ends_at"):
        return epoch_ms(alert["ends_at"])  # type: ignore[arg-type]
    return epoch_ms(alert["starts_at"])


def _firing(incident: Incident) -> bool:
    return "firing" in incident["alerts"].values()


def _within_life(incident: Incident, at: int) -> bool:
    return at - incident["opened_ms"] <= incident["max_ms"]


def _absorbs(incident: Incident, at: int) -> bool:
    """Still firing, within the gap of its newest alert and within its lifetime."""
    return _firing(incident) and _brief_absorbs(
        [incident["opened_ms"], incident["last_ms"], incident["gap_ms"], incident["max_ms"]], at
    )


def _brief_absorbs(brief: list[int], at: int) -> bool:
    opened, last, gap, longest = brief
    return at - last <= gap and at - opened <= longest


def _specific(template: str | None) -> bool:
    """A template with at least two constant words says enough to join on.

    >>> _specific("Disk full on <*>"), _specific("<*> <*>"), _specific("error <*>")
    (True, False, False)
    """
    words = [t for t in (template or "").split() if t != "<*>" and any(c.isalpha() for c in t)]
    return len(words) >= 2


def _pair(a: str, b: str) -> str:
    return " ".join(sorted((a, b)))


def _occasions(rows: Rows, key: str, at: int) -> int:
    """Occasions counted in the row ``key`` (a template or a pair) within COOCCUR_DAYS."""
    entry = rows.get(key)
    if entry is None:
        return 0
    first_day = at // DAY_MS - COOCCUR_DAYS
    return sum(n for day, n in entry["days"].items() if int(day) > first_day)


def _count(rows: Rows, tenant: str, key: str, at: int) -> None:
    """Count one occasion in the row ``key``: at most one per OCCASION_MS, by day."""
    entry = rows.get(key) or {"last": -OCCASION_MS - 1, "days": {}, "due": None}
    if at - entry["last"] <= OCCASION_MS:
        return
    day = str(at // DAY_MS)
    kept = {d: n for d, n in entry["days"].items() if int(d) > at // DAY_MS - COOCCUR_DAYS}
    due = at + COOCCUR_DAYS * DAY_MS
    rows.put(key, {"last": at, "days": {**kept, day: kept.get(day, 0) + 1}, "due": due})
    _expire_at(rows, tenant, key, due, entry["due"])


def _cooccurring(
    rows: Rows, tenant: str, template: str | None, candidates: list[Incident], at: int
) -> tuple[Incident, str, str] | None:
    """The open incident holding the template that co-occurred most often with ``template``,
    on at least MIN_COOCCUR occasions and on at least COOCCUR_SHARE of the occasions of each
    of the two (a template that fires all the time co-occurs with everything, by chance)."""
    if not template:
        return None
    best: tuple[Incident, str, str] | None = None
    most = 0
    mine = _occasions(rows, _key(tenant, "t", template), at)
    for incident in candidates:
        for other, text in incident["templates"].items():
            if other == template:
                continue
            times = _occasions(rows, _key(tenant, "p", _pair(template, other)), at)
            theirs = _occasions(rows, _key(tenant, "t", other), at)
            if times >= max(MIN_COOCCUR, COOCCUR_SHARE * max(mine, theirs)) and times > most:
                best, most = (incident, text, f"on {times} of {max(mine, theirs)} occasions"), times
    return best


def _learn_cooccurrence(rows: Rows, head: Head, alert: Alert, at: int) -> None:
    """Count the template's occasions, and each pair of templates whose alerts came within
    COOCCUR_MS, once per occasion."""
    template = alert["template_id"]
    recent = [r for r in head["recent"] if abs(at - r[0]) <= COOCCUR_MS]
    head["recent"] = recent
    if not template:
        return
    tenant = alert["tenant"]
    _count(rows, tenant, _key(tenant, "t", template), at)
    for _, other in recent:
        if other != template:
            _count(rows, tenant, _key(tenant, "p", _pair(template, other)), at)
    if template not in {r[1] for r in recent}:
        head["recent"] = [*recent, [at, template]]


def _scopes(alert: Alert) -> list[str]:
    scopes = [f"tenant {alert['tenant']}"]
    if alert["service"]:
        scopes.append(f"service {alert['service']}")
    return scopes


def _count_rate(head: Head, alert: Alert, at: int) -> None:
    """Count a new firing alert in the per-minute rate of its tenant and its service."""
    minute = at // MINUTE_MS
    rates = dict(head["rates"])
    for scope in _scopes(alert):
        rates[scope] = _tick(rates.get(scope), minute)
        rates[scope][1] += 1
    head["rates"] = rates


def _tick(rate: list[float] | None, minute: int) -> list[float]:
    """Advance a scope's rate to ``minute``, folding finished minutes into its baseline.

    >>> r = _tick(None, 10); r[1] = 3; _tick(r, 12)
    [12, 0, 0.27, 0.7371, 0]
    """
    if rate is None:
        return [minute, 0, 0.0, 0.0, 0]
    current, count, mean, var, _ = rate
    if minute <= current:
        return list(rate)
    for passed in range(int(min(minute - current, 120))):
        value = count if passed == 0 else 0
        delta = value - mean
        mean += EWMA_ALPHA * delta
        var = (1 - EWMA_ALPHA) * (var + EWMA_ALPHA * delta * delta)
    return [minute, 0, round(mean, 4), round(var, 4), count if minute == current + 1 else 0]


def _last_minute(rate: list[float], at: int) -> float:
    """New alerts in the minute up to ``at``: this minute's, plus the previous minute's share.

    >>> _last_minute([10, 4, 0.0, 0.0, 8], 10 * 60_000 + 15_000)
    10.0
    >>> _last_minute([10, 4, 0.0, 0.0, 8], 9 * 60_000)  # a late alert from before the minute
    12.0
    """
    elapsed = (at - rate[0] * MINUTE_MS) / MINUTE_MS
    return rate[1] + rate[4] * min(1.0, max(0.0, 1.0 - elapsed))


def _storming(head: Head, scope: str, at: int) -> bool:
    """New alerts of ``scope`` in the last minute are far above its own baseline."""
    rate = head["rates"].get(scope)
    if rate is None:
        return False
    recent, mean, var = _last_minute(rate, at), rate[2], rate[3]
    return recent >= max(STORM_MIN, STORM_FACTOR * max(mean, 1.0) + 3 * math.sqrt(var))


def _note_storm(rows: Rows, head: Head, alert: Alert, storm_id: str, at: int) -> list[str]:
    """A scope that starts storming collapses its next new alerts into this incident, until
    none has come for ``STORM_QUIET_MS``; the incidents it opened in the last minute, before it
    was detected, are merged into it."""
    for scope in _scopes(alert):
        current, last = head["storms"].get(scope, ("", 0))
        active = rows.get(_key(alert["tenant"], "i", current)) and at - last <= STORM_QUIET_MS
        if not active and _storming(head, scope, at):
            head["storms"] = {**head["storms"], scope: [storm_id, at]}
            key = _key(alert["tenant"], "i", storm_id)
            rows.put(key, {**rows.get(key), "storm": scope})
            merged = _merge_storm(rows, head, alert["tenant"], storm_id, scope, at)
            words = _storm_words(head, scope, at).replace("collapsed into", "collapsing into")
            return [words + (f"; merged {merged} incidents it opened before" if merged else "")]
    return []


def _merge_storm(rows: Rows, head: Head, tenant: str, storm_id: str, scope: str, at: int) -> int:
    """Merge the firing incidents of ``scope`` opened within the last minute into the storm's.

    Their alerts move with every index row that names them, so each alert is in exactly one
    incident; its next message carries the storm's id and ``merged_from``."""
    storm_key = _key(tenant, "i", storm_id)
    storm: Incident = rows.get(storm_key)
    count = 0
    for iid, brief in list(head["live"].items()):
        absorbed: Incident | None = rows.get(_key(tenant, "i", iid))
        if iid == storm_id or absorbed is None or at - brief[0] > MINUTE_MS:
            continue
        if scope.startswith("service ") and scope[8:] not in absorbed["services"]:
            continue
        if _elsewhere(storm, absorbed["places"]):
            continue
        for alert_id in absorbed["alerts"]:
            rows.put(_key(tenant, "a", alert_id), {"incident": storm_id, "from": iid})
        for fingerprint in set(absorbed["fingerprints"].values()):
            if rows.get(_key(tenant, "f", fingerprint)) == iid:
                rows.put(_key(tenant, "f", fingerprint), storm_id)
        storm = _united(storm, absorbed)
        head["keys"] = {k: storm_id if v == iid else v for k, v in head["keys"].items()}
        head["groups"] = {k: storm_id if v == iid else v for k, v in head["groups"].items()}
        head["live"] = {k: v for k, v in head["live"].items() if k != iid}
        rows.delete(_key(tenant, "i", iid))
        count += 1
    rows.put(storm_key, storm)
    brief = [storm["opened_ms"], storm["last_ms"], storm["gap_ms"], storm["max_ms"]]
    head["live"] = {**head["live"], storm_id: brief}
    return count


def _elsewhere(incident: Incident, places: dict[str, str]) -> bool:
    """Whether alerts with ``places`` are in another cluster than the incident's.

    >>> incident = {"places": {"cluster": "eu-2"}}
    >>> [_elsewhere(incident, p) for p in ({"cluster": "eu-1"}, {}, {"cluster": "eu-2"})]
    [True, False, False]
    """
    mine, theirs = places.get(CLUSTER), incident["places"].get(CLUSTER)
    return bool(mine and theirs and mine != theirs)


def _united(storm: Incident, other: Incident) -> Incident:
    """``storm`` with every alert, template and place of ``other``."""
    return {
        **storm,
        "opened_ms": min(storm["opened_ms"], other["opened_ms"]),
        "alerts": {**other["alerts"], **storm["alerts"]},
        "fingerprints": {**other["fingerprints"], **storm["fingerprints"]},
        "templates": dict(list({**other["templates"], **storm["templates"]}.items())[:50]),
        "places": {**other["places"], **storm["places"]},
        "services": list(dict.fromkeys([*storm["services"], *other["services"]])),
        "groups": list(dict.fromkeys([*storm["groups"], *other["groups"]])),
        "merged": [*storm["merged"], other["id"]],
        "open": storm["open"] or other["open"],
    }


def _storm_words(head: Head, scope: str, at: int) -> str:
    rate = head["rates"][scope]
    count, mean = _last_minute(rate, at), rate[2]
    return (
        f"alert storm: {count:.0f} new alerts in a minute for {scope} against a baseline of"
        f" {mean:.1f}/min, collapsed into one incident"
    )


def _waiting(incident: Incident) -> str:
    firing = [a for a, status in incident["alerts"].items() if status == "firing"]
    distinct = len({incident["fingerprints"][a] for a in firing})
    return (
        f"incident not open yet: route {incident['route']} needs {incident['min_alerts']} firing"
        f" alerts ({len(firing)} so far) and {incident['min_distinct']} distinct ({distinct})"
    )


def _prune(rows: Rows, head: Head, tenant: str, now_ms: int) -> None:
    """Keep the head small and sweep the expiry buckets whose hour has passed."""
    stale = [
        iid for iid, brief in head["live"].items() if not _brief_absorbs(brief, now_ms)
    ]  # out of the session window: only a groupKey or its own re-fire can still reach it
    if stale:
        head["live"] = {k: v for k, v in head["live"].items() if k not in stale}
        head["keys"] = {k: v for k, v in head["keys"].items() if v not in stale}
    quiet = [s for s, (_, last) in head["storms"].items() if now_ms - last > STORM_QUIET_MS]
    if quiet:
        head["storms"] = {k: v for k, v in head["storms"].items() if k not in quiet}
    old = now_ms // MINUTE_MS - 7 * 24 * 60
    if any(rate[0] < old for rate in head["rates"].values()):
        head["rates"] = {s: r for s, r in head["rates"].items() if r[0] >= old}
    hour = now_ms // HOUR_MS
    if head["swept"] < 0:
        head["swept"] = hour - 1
    stop = min(hour - 1, head["swept"] + SWEEP_HOURS)
    for passed in range(head["swept"] + 1, stop + 1):
        for key in _bucket_keys(rows, tenant, passed):
            _forget(rows, head, tenant, key, now_ms)
    head["swept"] = max(head["swept"], stop)


def _forget(rows: Rows, head: Head, tenant: str, key: str, now_ms: int) -> None:
    """Delete an expired row (an incident with its alert rows); one touched since stays."""
    row = rows.get(key)
    if row is None or row["due"] > now_ms:
        return
    rows.delete(key)
    if key.startswith(_key(tenant, "i", "")):
        _unindex(head, row)
        for alert_id in row["alerts"]:
            rows.delete(_key(tenant, "a", alert_id))
        for fingerprint in set(row["fingerprints"].values()):
            if rows.get(_key(tenant, "f", fingerprint)) == row["id"]:
                rows.delete(_key(tenant, "f", fingerprint))


ROUTES = load_config().route


def route_of(alert: Alert, root: Route = ROUTES) -> Route:
    """The route whose grouping applies: the first one the alert lands on."""
    return match(root, group_labels(alert))[0]


async def handle(tenant: str, alert: Alert) -> None:
    """Place the alert in an incident; hand it on to the scoring stage."""
    offset = origin().position
    rows = Rows(correlation_table.get)
    marked = correlate_one(rows, alert, route_of(alert), offset)
    if correlation_table.get(_key(alert["tenant"], "i", marked["incident_id"])) is not None:
        metrics.correlations_processed.inc()  # joined an incident that existed before
    for key, row in rows.writes.items():
        if row is None:
            correlation_table.pop(key, None)
        else:
            correlation_table[key] = row
    await emit(topics.correlated, tenant, marked, epoch_ms(alert["starts_at"]) / 1000)
