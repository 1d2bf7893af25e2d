"""Stage 4: related alerts become one incident, in event-time session windows.

The route an alert lands on (:mod:`app.routes`, first match) gives its correlation key — the
values of the route's ``group_by`` — and its window: an incident opens with the first firing
alert of a key and absorbs related alerts while they keep coming (at most ``group_gap`` apart),
for at most ``max_duration``. Event time is the alert's ``starts_at`` (the Kafka timestamp).

An alert joins, in this order of preference, an incident that is still firing and:

1. holds an alert of the same Alertmanager ``groupKey`` (upstream grouping is never split,
   whatever the gap or the lifetime cap),
2. has the alert's correlation key,
3. is the alert storm of its tenant or service: when the rate of new alerts leaps far above its
   own baseline (an EWMA of new firing alerts per minute), the storm collapses into one incident,
4. holds an alert with the same content template (one with at least two constant words),
5. holds a template that co-occurred with the alert's template, within ``COOCCUR_MS``, on at
   least ``MIN_COOCCUR`` occasions in the last ``COOCCUR_DAYS`` days (learned online per tenant).

Otherwise it opens a new incident. An incident is resolved when all its alerts are; a resolved
incident never absorbs new alerts. A route may require ``min_alerts`` firing alerts, or
``min_distinct_alerts`` distinct firing fingerprints, before the incident opens: until then its
alerts carry ``incident_open: false`` and say so in ``reasons``.

State (table ``correlation``, keyed by tenant like the stream) is bounded: incidents, template
pairs and rate baselines are pruned lazily as event time moves on.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any, TypedDict

import faust

from agents.stage import run_stage
from app import metrics, topics
from app.faust_app import app
from app.records import Alert, epoch_ms
from app.routes import Route, group_key, group_labels, load_routes, match
from tables.correlation import correlation as correlation_table

COOCCUR_MS = 5 * 60_000  # templates whose first alerts come this close co-occur
OCCASION_MS = 3_600_000  # a pair is counted at most once in this long: one occasion
COOCCUR_DAYS = 30
MIN_COOCCUR = 3  # co-occurrences before two templates' alerts join across keys
MAX_PAIRS = 2000  # template pairs remembered per tenant (least recently seen evicted)
MAX_INCIDENTS = 2000  # incidents remembered per tenant (least recently touched evicted)
KEEP_RESOLVED_MS = 24 * 3_600_000  # a resolved incident is remembered this long
KEEP_FIRING_MS = 7 * 86_400_000  # an untouched firing incident is remembered this long
STORM_FACTOR = 5.0  # new alerts per minute above this multiple of the baseline …
STORM_MIN = 10  # … and at least this many in the last minute, make a storm
STORM_QUIET_MS = 2 * 60_000  # a storm ends when no new alert of its scope came for this long
EWMA_ALPHA = 0.1  # weight of the newest minute in the baseline
DAY_MS = 86_400_000
MINUTE_MS = 60_000


class Incident(TypedDict):
    """An incident as the correlation stage remembers it."""

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
    storm: str | None  # scope whose storm it collapses
    open: bool  # reached the route's min_alerts and min_distinct_alerts once


class State(TypedDict):
    """What the correlation table keeps per tenant."""

    offset: int
    incidents: dict[str, Incident]
    keys: dict[str, str]  # correlation key → incident id
    groups: dict[str, str]  # Alertmanager groupKey → incident id
    recent: list[list[Any]]  # [ms, template id] of new firing alerts within COOCCUR_MS
    pairs: dict[str, list[Any]]  # "t1 t2" → [last counted ms, {day: count}]
    rates: dict[str, list[float]]  # scope → [minute, count, mean, variance, previous count]
    storms: dict[str, list[Any]]  # scope → [incident id of its storm, newest alert ms]


def empty_state() -> State:
    """The state of a tenant nobody has heard of."""
    return {
        "offset": -1,
        "incidents": {},
        "keys": {},
        "groups": {},
        "recent": [],
        "pairs": {},
        "rates": {},
        "storms": {},
    }


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
    """The new state and ``alert`` with its ``incident_id``, ``incident_open`` and reason.

    >>> s = empty_state()
    >>> a = {"id": "a1", "tenant": "t", "service": "db", "status": "firing", "fingerprint": "f1",
    ...      "labels": {"alertname": "DiskFull"}, "group_key": None, "template_id": "x",
    ...      "template": "Disk full on <*>", "title": "Disk full on db1", "reasons": [],
    ...      "starts_at": "2026-01-01T00:00:00Z"}
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
    at = epoch_ms(alert["starts_at"])
    replay = offset <= state["offset"]
    state = {**state, "offset": max(offset, state["offset"])}
    known = _incident_of(state, alert["id"])
    if known is not None:
        incident, reason = known, _state_change(known, alert)
    elif alert["status"] != "firing":
        incident = _open(alert, route, at, correlation_key(route, alert))
        reason = "a resolve of an alert never seen firing: an incident of its own"
    else:
        if not replay:
            _count_rate(state, alert, at)
        incident, reason = _place(state, alert, route, at)
    incident = _absorb(incident, alert, at)
    state["incidents"] = {**state["incidents"], incident["id"]: incident}
    if alert["group_key"] and alert["status"] == "firing":
        state["groups"] = {**state["groups"], alert["group_key"]: incident["id"]}
    reasons = [*alert["reasons"], reason]
    if known is None and alert["status"] == "firing" and not replay:
        _learn_cooccurrence(state, alert, at)
        reasons += _note_storm(state, alert, incident["id"], at)
    _prune(state, at)
    opened = state["incidents"][incident["id"]]["open"]
    if not opened:
        reasons.append(_waiting(incident))
    marked: Alert = {**alert, "incident_id": incident["id"], "reasons": reasons}
    marked["incident_open"] = opened  # type: ignore[typeddict-unknown-key]
    return state, marked


def is_open(incident: Incident) -> bool:
    """Whether the incident has the firing alerts its route requires."""
    firing = [a for a, status in incident["alerts"].items() if status == "firing"]
    distinct = {incident["fingerprints"][a] for a in firing}
    return len(firing) >= incident["min_alerts"] and len(distinct) >= incident["min_distinct"]


def _incident_of(state: State, alert_id: str) -> Incident | None:
    for incident in state["incidents"].values():
        if alert_id in incident["alerts"]:
            return incident
    return None


def _state_change(incident: Incident, alert: Alert) -> str:
    others = sum(1 for a, s in incident["alerts"].items() if s == "firing" and a != alert["id"])
    if alert["status"] == "resolved":
        if others:
            return f"resolved; its incident still has {others} firing alerts"
        return "resolved; every alert of its incident is resolved, so the incident is"
    return f"again in incident {incident['id']}"


def _place(state: State, alert: Alert, route: Route, at: int) -> tuple[Incident, str]:
    """The incident a new firing alert joins, or a new one, and why."""
    incidents = state["incidents"]
    group = state["groups"].get(alert["group_key"] or "")
    if group in incidents and _firing(incidents[group]):
        return incidents[group], f"same Alertmanager group ({alert['group_key']}) as incident"
    key = correlation_key(route, alert)
    keyed = incidents.get(state["keys"].get(key, ""))
    grouped_by = key.split(":", 1)[1]
    if keyed is not None and _absorbs(keyed, at):
        return keyed, f"joined incident of {len(keyed['alerts'])} alerts: same {grouped_by}"
    for scope in _scopes(alert):
        storm_id, last = state["storms"].get(scope, ("", 0))
        storm = incidents.get(storm_id)
        if (
            storm is not None
            and at - last <= STORM_QUIET_MS
            and at - storm["opened_ms"] <= storm["max_ms"]
        ):
            state["storms"] = {**state["storms"], scope: [storm_id, max(last, at)]}
            return storm, _storm_words(state, scope, at)
    template = alert["template_id"]
    candidates = sorted(
        (i for i in incidents.values() if _absorbs(i, at)), key=lambda i: -i["last_ms"]
    )
    if template and _specific(alert["template"]):
        for incident in candidates:
            if template in incident["templates"]:
                return incident, f"same template as incident {incident['id']}: {alert['template']}"
    best = _cooccurring(state, template, candidates, at)
    if best is not None:
        incident, other, times = best
        days = COOCCUR_DAYS
        return incident, f"co-occurs with “{other}” {times} times in {days} days"
    incident = _open(alert, route, at, key)
    state["keys"] = {**state["keys"], key: incident["id"]}
    return incident, f"opened a new incident grouped by {grouped_by}"


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
        "storm": None,
        "open": False,
    }


def _absorb(incident: Incident, alert: Alert, at: int) -> Incident:
    templates = dict(incident["templates"])
    if alert["template_id"] and len(templates) < 50:
        templates.setdefault(alert["template_id"], alert["template"] or "")
    new = alert["id"] not in incident["alerts"]
    grown: Incident = {
        **incident,
        "alerts": {**incident["alerts"], alert["id"]: alert["status"]},
        "fingerprints": {**incident["fingerprints"], alert["id"]: alert["fingerprint"]},
        "templates": templates,
        "last_ms": max(incident["last_ms"], at) if new else incident["last_ms"],
        "touched_ms": max(incident["touched_ms"], at),
    }
    grown["open"] = incident["open"] or is_open(grown)  # once open, it stays open
    return grown


def _firing(incident: Incident) -> bool:
    return "firing" in incident["alerts"].values()


def _absorbs(incident: Incident, at: int) -> bool:
    """Still firing, within the gap of its newest alert and within its lifetime."""
    return (
        _firing(incident)
        and at - incident["last_ms"] <= incident["gap_ms"]
        and at - incident["opened_ms"] <= incident["max_ms"]
    )


def _specific(template: str | None) -> bool:
    """A template with at least two constant words says enough to join on.

    >>> _specific("Disk full on <*>"), _specific("<*> <*>"), _specific("error <*>")
    (True, False, False)
    """
    words = [t for t in (template or "").split() if t != "<*>" and any(c.isalpha() for c in t)]
    return len(words) >= 2


def _pair(a: str, b: str) -> str:
    return " ".join(sorted((a, b)))


def _times(state: State, a: str, b: str, at: int) -> int:
    entry = state["pairs"].get(_pair(a, b))
    if entry is None:
        return 0
    first_day = at // DAY_MS - COOCCUR_DAYS
    return sum(n for day, n in entry[1].items() if int(day) > first_day)


def _cooccurring(
    state: State, template: str | None, candidates: list[Incident], at: int
) -> tuple[Incident, str, int] | None:
    """The open incident holding the template that co-occurred most often with ``template``."""
    if not template:
        return None
    best: tuple[Incident, str, int] | None = None
    for incident in candidates:
        for other, text in incident["templates"].items():
            times = _times(state, template, other, at) if other != template else 0
            if times >= MIN_COOCCUR and (best is None or times > best[2]):
                best = (incident, text, times)
    return best


def _learn_cooccurrence(state: State, alert: Alert, at: int) -> None:
    """Count each template pair whose alerts came within COOCCUR_MS, once per occasion."""
    template = alert["template_id"]
    recent = [r for r in state["recent"] if abs(at - r[0]) <= COOCCUR_MS]
    if not template:
        state["recent"] = recent
        return
    pairs = dict(state["pairs"])
    for _, other in recent:
        if other == template:
            continue
        name = _pair(template, other)
        last, days = pairs.get(name, [-OCCASION_MS - 1, {}])
        if at - last > OCCASION_MS:
            day = str(at // DAY_MS)
            kept = {d: n for d, n in days.items() if int(d) > at // DAY_MS - COOCCUR_DAYS}
            pairs.pop(name, None)  # re-insert: dicts keep the most recent last
            pairs[name] = [at, {**kept, day: kept.get(day, 0) + 1}]
    while len(pairs) > MAX_PAIRS:
        pairs.pop(next(iter(pairs)))
    state["pairs"] = pairs
    seen = {r[1] for r in recent}
    state["recent"] = [*recent, [at, template]] if template not in seen else recent


def _scopes(alert: Alert) -> list[str]:
    scopes = [f"tenant {alert['tenant']}"]
    if alert["service"]:
        scopes.append(f"service {alert['service']}")
    return scopes


def _count_rate(state: State, alert: Alert, at: int) -> None:
    """Count a new firing alert in the per-minute rate of its tenant and its service."""
    minute = at // MINUTE_MS
    rates = dict(state["rates"])
    for scope in _scopes(alert):
        rates[scope] = _tick(rates.get(scope), minute)
        rates[scope][1] += 1
    state["rates"] = rates


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
    """
    elapsed = (at - rate[0] * MINUTE_MS) / MINUTE_MS
    return rate[1] + rate[4] * max(0.0, 1.0 - elapsed)


def _storming(state: State, scope: str, at: int) -> bool:
    """New alerts of ``scope`` in the last minute are far above its own baseline."""
    rate = state["rates"].get(scope)
    if rate is None:
        return False
    recent, mean, var = _last_minute(rate, at), rate[2], rate[3]
    return recent >= max(STORM_MIN, STORM_FACTOR * max(mean, 1.0) + 3 * math.sqrt(var))


def _note_storm(state: State, alert: Alert, incident_id: str, at: int) -> list[str]:
    """A scope that starts storming collapses its next new alerts into this incident, until
    none has come for ``STORM_QUIET_MS``."""
    for scope in _scopes(alert):
        storm_id, last = state["storms"].get(scope, ("", 0))
        active = storm_id in state["incidents"] and at - last <= STORM_QUIET_MS
        if not active and _storming(state, scope, at):
            state["storms"] = {**state["storms"], scope: [incident_id, at]}
            incident = state["incidents"][incident_id]
            state["incidents"][incident_id] = {**incident, "storm": scope}
            return [_storm_words(state, scope, at).replace("collapsed into", "collapsing into")]
    return []


def _storm_words(state: State, scope: str, at: int) -> str:
    rate = state["rates"][scope]
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


def _prune(state: State, now_ms: int) -> None:
    """Forget what can absorb nothing any more, so the tenant's row stays bounded."""
    kept = {
        iid: i
        for iid, i in state["incidents"].items()
        if now_ms - i["touched_ms"] <= (KEEP_FIRING_MS if _firing(i) else KEEP_RESOLVED_MS)
    }
    if len(kept) > MAX_INCIDENTS:
        newest = sorted(kept.values(), key=lambda i: i["touched_ms"])[-MAX_INCIDENTS:]
        kept = {i["id"]: i for i in newest}
    if len(kept) != len(state["incidents"]):
        state["incidents"] = kept
        state["keys"] = {k: v for k, v in state["keys"].items() if v in kept}
        state["groups"] = {k: v for k, v in state["groups"].items() if v in kept}
        state["storms"] = {k: v for k, v in state["storms"].items() if v[0] in kept}
    stale = now_ms // MINUTE_MS - 7 * 24 * 60
    if any(rate[0] < stale for rate in state["rates"].values()):
        state["rates"] = {s: r for s, r in state["rates"].items() if r[0] >= stale}


_config = os.environ.get("ALERTFLOW_CONFIG")
ROUTES = load_routes(Path(_config) if _config else None)


def route_of(alert: Alert, root: Route = ROUTES) -> Route:
    """The route whose grouping applies: the first one the alert lands on."""
    return match(root, group_labels(alert))[0]


async def _correlate(tenant: str, alert: Alert) -> None:
    offset = faust.current_event().message.offset
    state = correlation_table.get(tenant)
    if state is None or "incidents" not in state:  # none yet, or a row of an older version
        state = empty_state()
    before = set(state["incidents"])
    state, marked = decide(state, alert, route_of(alert), offset)
    correlation_table[tenant] = state
    if marked["incident_id"] in before:
        metrics.correlations_processed.inc()
    await topics.correlated.send(
        key=tenant, value=marked, timestamp=epoch_ms(alert["starts_at"]) / 1000
    )


@app.agent(topics.fingerprinted, concurrency=1)
async def correlate(stream: faust.StreamT[Any]) -> None:
    """Group related alerts into incidents."""
    await run_stage("correlate", stream, _correlate)
