"""Alert storms: when the rate of new alerts of a tenant or a service leaps far above its own
baseline, the scope storms and its next new alerts collapse into one incident.

Rates are counted per *scope* (``tenant <t>`` and ``service <s>``) for each new firing alert,
in event time (``starts_at``), per minute: ``[minute, count, mean, variance, previous count]``
with an EWMA baseline of finished minutes. A scope storms when the new alerts of the last minute
number at least ``STORM_MIN`` and ``STORM_FACTOR`` times the baseline plus three standard
deviations. A storm is ``[incident id, started ms, newest ms, cluster, phase]``: the incident
it collapses into (a fresh id), and it lasts until no new alert of the scope came at storm pace
(``STORM_PACE`` in the last minute) for ``STORM_QUIET_MS``, and no longer than the scope's
phase it started in (:mod:`app.correlation.phase`): after a pause too long for its pace, the
scope's next burst is a storm of its own. While it lasts, triage stamps a
*hint* on each new alert of the scope (``{"scope", "incident_id", "words"}``); correlation
puts an alert that would open a new incident into the storm's incident instead.

A storm never takes an alert of another cluster (a ``cluster`` label), so while a scope storms,
the new alerts of each of its clusters collapse into a storm of their own (named by
:func:`storm_key`, in the tenant's ``storms``): one incident per cluster, not one for the
cluster whose alert came first and an incident per alert group for the others.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from typing import Any

from app.records import Alert

STORM_FACTOR = 5.0  # new alerts per minute above this multiple of the baseline …
STORM_MIN = 10  # … and at least this many in the last minute, make a storm
STORM_QUIET_MS = 2 * 60_000  # a storm ends when no new alert of its scope came for this long …
STORM_PACE = STORM_MIN / 2  # … at storm pace: this many new alerts of the scope in a minute
STORM_LIFE_MS = 4 * 3_600_000  # a storm's incident takes alerts for at most this long
EWMA_ALPHA = 0.1  # weight of the newest minute in the baseline
MINUTE_MS = 60_000
MAX_SCOPES = 256  # rates kept per tenant (the scopes quiet the longest go first) …
KEEP_RATE_MS = 7 * 86_400_000  # … and none quiet for longer than this
MAX_STORMS = 64  # storms kept per tenant (of scopes with a rate; the stalest go first)
CLUSTER = "cluster"  # a storm never takes alerts of another cluster …
IN_CLUSTER = f" in {CLUSTER} "  # … so each cluster of a storming scope has a storm of its own

Rate = list[float]  # [minute, count, mean, variance, previous minute's count]
Storm = list[Any]  # [incident id, started ms, newest alert ms, cluster or "", phase start ms]


def scopes(alert: Alert) -> list[str]:
    """The scopes whose rate a new alert counts in.

    >>> scopes({"tenant": "acme", "service": "db"}), scopes({"tenant": "acme", "service": ""})
    (['tenant acme', 'service db'], ['tenant acme'])
    """
    found = [f"tenant {alert['tenant']}"]
    if alert["service"]:
        found.append(f"service {alert['service']}")
    return found


def tick(rate: Rate | None, minute: int) -> Rate:
    """A scope's rate advanced to ``minute``, finished minutes folded into its baseline.

    The finished minute's count is one EWMA step; the quiet minutes after it fold in closed
    form (the mean decays by ``(1 - α)^k``; the variance to ``(1 - α)^k (v + m² (1 - (1 - α)^k))``),
    so a scope quiet for days costs what one busy minute costs.

    >>> r = tick(None, 10); r[1] = 3; tick(r, 12)
    [12, 0, 0.27, 0.7371, 0]
    >>> tick([0, 0, 4.0, 1.0, 0], 100_000)[2:4]
    [0.0, 0.0]
    """
    if rate is None:
        return [minute, 0, 0.0, 0.0, 0]
    current, count, mean, var, _ = rate
    if minute <= current:
        return rate
    delta = count - mean
    mean += EWMA_ALPHA * delta
    var = (1 - EWMA_ALPHA) * (var + EWMA_ALPHA * delta * delta)
    quiet = int(minute - current - 1)
    if quiet:
        decay = (1 - EWMA_ALPHA) ** quiet
        var = decay * (var + mean * mean * (1 - decay))
        mean *= decay
    return [minute, 0, round(mean, 4), round(var, 4), count if minute == current + 1 else 0]


def counted(rate: Rate | None, at: int) -> Rate:
    """The rate after one new alert at ``at`` (ms).

    >>> counted(counted(None, 60_000), 61_000)
    [1, 2, 0.0, 0.0, 0]
    >>> before = [1, 2, 0.0, 0.0, 0]; _ = counted(before, 61_000); before  # a new list
    [1, 2, 0.0, 0.0, 0]
    """
    minute, count, *rest = tick(rate, at // MINUTE_MS)
    return [minute, count + 1, *rest]  # a late alert of an earlier minute counts in this one


def last_minute(rate: Rate, at: int) -> float:
    """New alerts in the minute up to ``at``: this minute's, plus the previous minute's share.

    >>> last_minute([10, 4, 0.0, 0.0, 8], 10 * 60_000 + 15_000)
    10.0
    >>> last_minute([10, 4, 0.0, 0.0, 8], 9 * 60_000)  # a late alert from before the minute
    12.0
    """
    elapsed = (at - rate[0] * MINUTE_MS) / MINUTE_MS
    return rate[1] + rate[4] * min(1.0, max(0.0, 1.0 - elapsed))


def storming(rate: Rate | None, at: int) -> bool:
    """Whether new alerts of the last minute are far above the scope's own baseline.

    >>> storming([10, 12, 0.5, 0.2, 0], 10 * 60_000), storming([10, 12, 3.0, 1.0, 0], 600_000)
    (True, False)
    """
    if rate is None:
        return False
    recent, mean, var = last_minute(rate, at), rate[2], rate[3]
    return recent >= max(STORM_MIN, STORM_FACTOR * max(mean, 1.0) + 3 * math.sqrt(var))


def storm_id(tenant: str, scope: str, at: int) -> str:
    """The id of the incident a storm of ``scope`` that started at ``at`` collapses into.

    >>> storm_id("acme", "tenant acme", 0) == storm_id("acme", "tenant acme", 0)
    True
    """
    return hashlib.blake2b(f"{tenant}|storm|{scope}@{at}".encode(), digest_size=10).hexdigest()


def active(storm: Storm | None, at: int) -> bool:
    """Whether a storm still takes an alert of ``at``: not quiet for long, not too old.

    >>> active(["s", 0, 60_000, ""], 170_000), active(["s", 0, 60_000, ""], 190_000)
    (True, False)
    """
    return storm is not None and at - storm[2] <= STORM_QUIET_MS and at - storm[1] <= STORM_LIFE_MS


def words(rate: Rate, scope: str, at: int, started: bool) -> str:
    """Why an alert goes to the storm's incident, in words.

    >>> words([1, 12, 0.5, 0.0, 0], "tenant acme", 60_000, started=False)
    'alert storm: 12 new alerts in a minute for tenant acme against a baseline of 0.5/min, \
collapsed into one incident'
    """
    verb = "collapsing" if started else "collapsed"
    return (
        f"alert storm: {last_minute(rate, at):.0f} new alerts in a minute for {scope} against a"
        f" baseline of {rate[2]:.1f}/min, {verb} into one incident"
    )


def storm_key(scope: str, cluster: str) -> str:
    """The name of the storm of ``scope`` among alerts of ``cluster`` (``""``: none).

    >>> storm_key("tenant acme", "eu-1"), storm_key("tenant acme", "")
    ('tenant acme in cluster eu-1', 'tenant acme')
    """
    return f"{scope}{IN_CLUSTER}{cluster}" if cluster else scope


def scope_of(key: str) -> str:
    """The scope of a storm's name.

    >>> scope_of("service db in cluster eu-1"), scope_of("service db")
    ('service db', 'service db')
    """
    return key.split(IN_CLUSTER, 1)[0]


def note(
    tenant: str,
    rates: dict[str, Rate],
    storms: dict[str, Storm],
    alert: Alert,
    at: int,
    count: bool,
    phases: dict[str, int] | None = None,
) -> tuple[dict[str, str] | None, list[str]]:
    """Count a new firing alert (when ``count``) and say which storm takes it; ``phases`` is
    the alert's phase stamp (scope → start of the scope's current phase).

    ``rates`` (scope → rate) and ``storms`` (:func:`storm_key` → storm) are updated in place,
    their lists replaced, never changed (a call's copy of the row may share them). Returns the
    hint for the alert (``None`` outside storms) and the names of the storms it started.

    >>> rates, storms, phase = {}, {}, {"tenant t": 60_000}
    >>> a = {"tenant": "t", "service": "", "labels": {}}
    >>> [note("t", rates, storms, a, 60_000 + n, True, phase)[0] for n in range(9)][-1] is None
    True
    >>> hint, started = note("t", rates, storms, a, 60_010, True, phase)
    >>> started, hint["incident_id"] == storms["tenant t"][0], hint["words"][:24]
    (['tenant t'], True, 'alert storm: 10 new aler')
    >>> hint, started = note("t", rates, storms, a, 70_000, True, {"tenant t": 70_000})
    >>> started, storms["tenant t"][1]  # a new phase of the scope: a storm of its own
    (['tenant t'], 70000)
    >>> us = {**a, "labels": {"cluster": "us"}}
    >>> hint, started = note("t", rates, storms, us, 70_001, True, {"tenant t": 70_000})
    >>> started, hint["incident_id"] == storms["tenant t in cluster us"][0]  # its own cluster's
    (['tenant t in cluster us'], True)
    """
    hint: dict[str, str] | None = None
    started: list[str] = []
    cluster = alert["labels"].get(CLUSTER, "")
    for scope in scopes(alert):
        rate = counted(rates.get(scope), at) if count else rates.get(scope)
        if rate is None:
            continue
        rates[scope] = rate
        key = storm_key(scope, cluster)
        storm = storms.get(key)
        phase = (phases or {}).get(scope)
        if storm is not None and not same_phase(storm, phase):
            storm = None  # it ended with its phase
        if not active(storm, at) and count and storming(rate, at):
            storm = storms[key] = [storm_id(tenant, key, at), at, at, cluster, phase]
            started.append(key)
        if hint is None and storm is not None and _takes(storm, rate, at):
            storm = storms[key] = [*storm[:2], max(storm[2], at), *storm[3:]]
            hint = {
                "scope": scope,
                "incident_id": storm[0],
                "words": words(rate, scope, at, key in started),
            }
    return hint, started


def same_phase(storm: Storm, phase: int | None) -> bool:
    """Whether a storm belongs to the phase ``phase`` of its scope (storms and alerts from
    before phases were kept belong to any).

    >>> same_phase(["s", 0, 0, "", 5], 5), same_phase(["s", 0, 0, "", 5], 9)
    (True, False)
    >>> same_phase(["s", 0, 0, ""], 9), same_phase(["s", 0, 0, "", 5], None)
    (True, True)
    """
    return len(storm) < 5 or storm[4] is None or phase is None or storm[4] == phase


def _takes(storm: Storm, rate: Rate, at: int) -> bool:
    """Whether a storm takes a new alert: it lasts and its scope keeps storm pace (it is the
    storm of the alert's own cluster: :func:`storm_key`)."""
    return active(storm, at) and last_minute(rate, at) >= STORM_PACE


def prune(rates: dict[str, Rate], storms: dict[str, Storm], now_ms: int) -> list[str]:
    """Keep a tenant's rows small (in place): forget the rates of scopes quiet for
    ``KEEP_RATE_MS`` and beyond ``MAX_SCOPES`` the ones quiet the longest; keep storms only of
    scopes with a rate, at most ``MAX_STORMS``, the ones whose newest alert is oldest going
    first — a storm of many new services at once must not grow the row with every service.
    Returns the scopes whose rate it forgot.

    >>> rates = {"service a": [0, 0, 0.0, 0.0, 0], "service b": [10_080, 1, 0.0, 0.0, 0]}
    >>> storms = {"service a": ["i", 0, 0, ""], "service b": ["j", 0, 0, ""]}
    >>> prune(rates, storms, 10_081 * MINUTE_MS), sorted(rates), sorted(storms)
    (['service a'], ['service b'], ['service b'])
    >>> rates = {f"service {n}": [1, 10, 0.0, 0.0, 0] for n in range(100)}
    >>> storms = {scope: ["i", 0, n, ""] for n, scope in enumerate(rates)}
    >>> len(prune(rates, storms, MINUTE_MS)), len(storms), min(s[2] for s in storms.values())
    (0, 64, 36)
    """
    oldest = (now_ms - KEEP_RATE_MS) // MINUTE_MS
    forgotten = [scope for scope, rate in rates.items() if rate[0] < oldest]
    for scope in forgotten:
        del rates[scope]
    if len(rates) > MAX_SCOPES:  # a few over (new scopes of this call): no sort of all of them
        quietest = heapq.nsmallest(len(rates) - MAX_SCOPES, rates, key=lambda s: rates[s][0])
        for scope in quietest:
            del rates[scope]
        forgotten += quietest
    for name in [name for name in storms if scope_of(name) not in rates]:
        del storms[name]
    if len(storms) > MAX_STORMS:
        for scope in heapq.nsmallest(len(storms) - MAX_STORMS, storms, key=lambda s: storms[s][2]):
            del storms[scope]
    return forgotten


def quiet(storms: dict[str, Storm], now_ms: int) -> list[str]:
    """The storms over by ``now_ms`` (removed from ``storms``).

    >>> storms = {"tenant t": ["s", 0, 0, ""]}
    >>> quiet(storms, 200_000), storms
    (['tenant t'], {})
    """
    if not storms:
        return []
    over = [scope for scope, storm in storms.items() if not active(storm, now_ms)]
    for scope in over:
        del storms[scope]
    return over
