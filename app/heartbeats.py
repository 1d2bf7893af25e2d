"""Heartbeats: a dead-man switch that pages when expected pings stop arriving.

A heartbeat is configured by name (``heartbeats:`` in the configuration)::

    heartbeats:
      - name: prometheus
        interval: 1m                        # a ping is expected at least this often
        grace: 2m                           # page after interval + grace without one
        matchers: ['alertname="Watchdog"']  # alerts consumed as its pings
        labels: {severity: critical, team: infra}   # route the page like any alert

Pings are firing alerts that match its matchers (Alertmanager's always-firing ``Watchdog``),
taken out of the chain by the bridge so they never page anybody, or ``POST
/api/v1/heartbeats/{name}``. When none came for ``interval + grace`` the heartbeat pages: an
alert ``HeartbeatMissing`` enters the chain like any other and is routed by its labels; the next
ping resolves it. After a worker starts watching (a start or a rebalance), each heartbeat gets a
full ``interval + grace`` before it may page: pings sent while nobody listened are not held
against it.

This module is pure: what a heartbeat's state becomes after a ping or a clock reading, and the
alerts to publish; :mod:`agents.heartbeats` keeps the states and runs the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from app.identity import label_fingerprint
from app.matchers import Matcher, matches_all
from app.records import RawAlert, ms_time

ALERTNAME = "HeartbeatMissing"
NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


@dataclass(frozen=True)
class Heartbeat:
    """One configured heartbeat."""

    name: str
    interval_ms: int
    grace_ms: int
    matchers: tuple[Matcher, ...] = ()  # alerts that count as its pings (none: HTTP pings only)
    labels: Mapping[str, str] = field(default_factory=dict)  # of the page: its route
    annotations: Mapping[str, str] = field(default_factory=dict)
    tenant: str = "default"

    @property
    def patience_ms(self) -> int:
        """How long it may stay silent before it pages: ``interval + grace``."""
        return self.interval_ms + self.grace_ms


class State(TypedDict):
    """What is kept per heartbeat (one row per configured heartbeat, a few fields each)."""

    last_ms: int | None  # the latest ping, None before the first
    pings: int  # pings counted (for the view)
    page: RawAlert | None  # the firing page while it pages: its resolve is built from it


def new_state() -> State:
    """The state of a heartbeat that has not been heard from."""
    return {"last_ms": None, "pings": 0, "page": None}


def pinged_by(heartbeats: Mapping[str, Heartbeat], labels: Mapping[str, str]) -> str | None:
    """The name of the first heartbeat (in configuration order) whose matchers ``labels`` hold.

    >>> from app.matchers import parse_matcher
    >>> hb = {"prom": Heartbeat("prom", 60_000, 60_000, (parse_matcher('alertname="Watchdog"'),))}
    >>> pinged_by(hb, {"alertname": "Watchdog"}), pinged_by(hb, {"alertname": "Other"})
    ('prom', None)
    >>> pinged_by({"http": Heartbeat("http", 60_000, 0)}, {}) is None  # HTTP pings only
    True
    """
    for name, heartbeat in heartbeats.items():
        if heartbeat.matchers and matches_all(heartbeat.matchers, labels):
            return name
    return None


def due_ms(heartbeat: Heartbeat, state: State, watching_since_ms: int) -> int:
    """When the heartbeat pages unless pinged: ``interval + grace`` after its latest ping, or
    after this worker started watching, whichever is later.

    >>> hb = Heartbeat("h", 60_000, 30_000)
    >>> due_ms(hb, {**new_state(), "last_ms": 1_000_000}, 0)
    1090000
    >>> due_ms(hb, new_state(), 5_000_000)  # never heard from: counted from the start
    5090000
    """
    heard = state["last_ms"] if state["last_ms"] is not None else watching_since_ms
    return max(heard, watching_since_ms) + heartbeat.patience_ms


def on_ping(state: State, at_ms: int) -> tuple[State, list[RawAlert]]:
    """A ping at ``at_ms``: remembered; if the heartbeat was paging, its page resolves.

    >>> state, alerts = on_ping(new_state(), 1_000)
    >>> state["last_ms"], state["pings"], alerts
    (1000, 1, [])
    >>> paging, _ = on_clock(Heartbeat("h", 60_000, 0), state, 61_000, 0)
    >>> state, (alert,) = on_ping(paging, 90_000)
    >>> state["page"], alert["payload"]["status"], alert["payload"]["ends_at"]
    (None, 'resolved', '1970-01-01T00:01:30.000Z')
    """
    last = at_ms if state["last_ms"] is None else max(state["last_ms"], at_ms)
    alerts = [] if state["page"] is None else [resolved(state["page"], at_ms)]
    return {"last_ms": last, "pings": state["pings"] + 1, "page": None}, alerts


def on_clock(
    heartbeat: Heartbeat, state: State, now_ms: int, watching_since_ms: int
) -> tuple[State, list[RawAlert]]:
    """The clock reads ``now_ms``: page when the heartbeat is overdue and not paging yet.

    The page starts when the heartbeat became due, so its id does not depend on how late the
    clock looked.

    >>> hb = Heartbeat("h", 60_000, 30_000, labels={"team": "infra"})
    >>> state = {**new_state(), "last_ms": 0, "pings": 1}
    >>> on_clock(hb, state, 89_999, 0)[1]
    []
    >>> state, (alert,) = on_clock(hb, state, 95_000, 0)
    >>> paging_since(state), alert["payload"]["status"], alert["payload"]["labels"]["team"]
    ('1970-01-01T00:01:30.000Z', 'firing', 'infra')
    >>> on_clock(hb, state, 200_000, 0)[1]  # paging already: nothing more
    []
    """
    due = due_ms(heartbeat, state, watching_since_ms)
    if state["page"] is not None or now_ms < due:
        return state, []
    alert = page(heartbeat, ms_time(due), state["last_ms"], now_ms)
    return {**state, "page": alert}, [alert]


def on_removed(state: State, now_ms: int) -> list[RawAlert]:
    """A heartbeat taken out of the configuration: its page, if any, resolves.

    >>> on_removed(new_state(), 0)
    []
    """
    return [] if state["page"] is None else [resolved(state["page"], now_ms)]


def paging_since(state: State) -> str | None:
    """When the heartbeat's page started, while it pages."""
    return None if state["page"] is None else state["page"]["payload"]["starts_at"]


def page(heartbeat: Heartbeat, since: str, last_ms: int | None, at_ms: int) -> RawAlert:
    """The alert that pages for a silent heartbeat, sent at ``at_ms``.

    Its fingerprint is the heartbeat's, its start the moment it became due: the firing alert and
    its resolve share one id. Severity ``critical`` unless its labels say otherwise.

    >>> alert = page(Heartbeat("nightly-backup", 86_400_000, 3_600_000), "2026-01-02T01:00:00Z",
    ...              0, 1_767_315_600_000)
    >>> alert["source"], alert["payload"]["title"]
    ('api', 'Heartbeat nightly-backup stopped: no ping for 25h')
    >>> alert["payload"]["labels"]
    {'alertname': 'HeartbeatMissing', 'heartbeat': 'nightly-backup', 'severity': 'critical'}
    """
    labels = {"alertname": ALERTNAME, "heartbeat": heartbeat.name, "severity": "critical"}
    labels.update(heartbeat.labels)
    last = "never since alertflow started watching" if last_ms is None else ms_time(last_ms)
    payload: dict[str, Any] = {
        "title": f"Heartbeat {heartbeat.name} stopped: no ping for {_words(heartbeat.patience_ms)}",
        "description": f"The last ping of heartbeat {heartbeat.name} came {last}; one is expected"
        f" every {_words(heartbeat.interval_ms)} (grace {_words(heartbeat.grace_ms)}).",
        "severity": labels["severity"],
        "service": labels.get("service", heartbeat.name),
        "labels": labels,
        "annotations": {"summary": f"Heartbeat {heartbeat.name} stopped", **heartbeat.annotations},
        "fingerprint": label_fingerprint({**labels, "__tenant__": heartbeat.tenant}),
        "status": "firing",
        "starts_at": since,
        "tenant": heartbeat.tenant,
    }
    return {
        "source": "api",
        "received_at": ms_time(at_ms),
        "tenant": heartbeat.tenant,
        "payload": payload,
        "context": {"via": "heartbeat", "heartbeat": heartbeat.name},
    }


def resolved(firing: RawAlert, at_ms: int) -> RawAlert:
    """The resolve of a page, sent at ``at_ms``: same fingerprint and start, so the same id.

    >>> alert = resolved(page(Heartbeat("h", 60_000, 0), "1970-01-01T00:01:00Z", 0, 61_000), 90_000)
    >>> alert["payload"]["status"], alert["payload"]["ends_at"], alert["received_at"]
    ('resolved', '1970-01-01T00:01:30.000Z', '1970-01-01T00:01:30.000Z')
    """
    at = ms_time(at_ms)
    payload = {**firing["payload"], "status": "resolved", "ends_at": at}
    return {**firing, "received_at": at, "payload": payload}


def view(heartbeat: Heartbeat, state: State | None, now_ms: int) -> dict[str, Any]:
    """A heartbeat as ``GET /api/v1/heartbeats`` shows it.

    ``status``: ``waiting`` (never pinged), ``ok``, ``late`` (past its interval, within its
    grace) or ``missing`` (paging).

    >>> hb = Heartbeat("h", 60_000, 60_000)
    >>> view(hb, {"last_ms": 0, "pings": 3, "page": None}, 70_000)["status"]
    'late'
    """
    state = state or new_state()
    last = state["last_ms"]
    if state["page"] is not None:
        status = "missing"
    elif last is None:
        status = "waiting"
    else:
        status = "ok" if now_ms - last <= heartbeat.interval_ms else "late"
    return {
        "name": heartbeat.name,
        "status": status,
        "interval": _words(heartbeat.interval_ms),
        "grace": _words(heartbeat.grace_ms),
        "matchers": [str(m) for m in heartbeat.matchers],
        "last_ping": None if last is None else ms_time(last),
        "pings": state["pings"],
        "paging_since": paging_since(state),
        "tenant": heartbeat.tenant,
    }


def _words(ms: int) -> str:
    """A duration in its largest whole unit (``app.config`` imports this module: no cycle).

    >>> _words(90_000), _words(7_200_000), _words(0), _words(1_500)
    ('90s', '2h', '0s', '1500ms')
    """
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}" if ms else "0s"
    return f"{ms}ms"
