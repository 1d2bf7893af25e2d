"""A generator of realistic alert streams with ground truth, deterministic by seed.

What an operations team's senders emit over some hours, per tenant:

* **cascades** — a failing dependency (``postgres``, ``redis``, ``kafka``) fires first, then
  the services that depend on it, level by level, a minute or two apart; resolves come back in
  reverse order. The same dependency fails again and again over the hours, so the pattern recurs.
* **flapping** — one alert that fires and resolves every few minutes for half an hour, then
  settles resolved or firing; some over the API from a health check that posts only changes.
* **re-sends** — Alertmanager repeats every firing alert of a group every ``GROUP_INTERVAL``;
  API callers re-post their alert while the condition lasts.
* **storms** — a network partition: a hundred distinct alerts within a couple of minutes.
* **noise** — independent single alerts (certificates, batch jobs, exceptions) over the API.

API::

    items = generate(seed=1, hours=6, tenants=("acme", "globex"))
    for item in items:            # sorted by ``at``, the moment the sender posts it
        item.at                   # RFC 3339, the receive (and event) time
        item.tenant
        item.source               # "alertmanager" | "api"
        item.payload              # the source's alert object, as the webhook or API carries it
        item.context              # Alertmanager: the webhook's other fields (groupKey, ...)
        item.incident             # the TRUE incident id: what a senior SRE groups together
        item.actionable           # ground truth: would a person act on this incident?
        item.kind                 # "cascade" | "flap" | "storm" | "noise"
        raw_alert(item)           # the ``alerts.raw`` record for app.sources.normalize

Every message of a true incident carries the same ``incident`` and ``actionable``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.records import RawAlert, format_time

START = datetime(2026, 1, 5, tzinfo=UTC)
GROUP_INTERVAL = timedelta(minutes=5)
API_REPOST = timedelta(minutes=4)  # API callers re-post a lasting alert within resolve_timeout
GROUP_BY = ("alertname", "cluster", "service")  # the senders' Alertmanager route
DEPENDENTS = {  # service → the services that call it
    "postgres": ("orders-api", "payments-api"),
    "redis": ("payments-api", "search-api"),
    "kafka": ("orders-api", "notifications"),
    "orders-api": ("checkout-web",),
    "payments-api": ("checkout-web",),
    "search-api": ("frontend",),
    "checkout-web": ("frontend",),
    "notifications": (),
    "frontend": (),
}
ROOT_ALERTS = {
    "postgres": ("PostgresDown", "Postgres primary {host} is not accepting connections"),
    "redis": ("RedisDown", "Redis {host} unreachable for {n}s"),
    "kafka": ("KafkaUnderReplicated", "Kafka broker {host} has {n} under-replicated partitions"),
}
SYMPTOMS = (
    ("HighErrorRate", "High error rate on {service}: {pct}% of requests failing"),
    ("HighLatency", "p99 latency of {service} is {n}ms, above the 500ms objective"),
    ("ProbeFailed", "Blackbox probe of {service} failed from {n} locations"),
)
STORM_ALERTS = (
    ("TargetDown", "Target {host} of job {service} is down"),
    ("NodeNotReady", "Kubernetes node {host} is not ready"),
    ("KubePodCrashLooping", "Pod {service}-{n} is crash looping"),
    ("ProbeFailed", "Blackbox probe of {service} failed from {n} locations"),
)
NOISE = (
    ("Certificate for {host}.example.com expires in {n} days", "info", False),
    ("Batch job nightly-report took {n}s, longer than usual", "warning", False),
    ("ZeroDivisionError: division by zero in billing.invoice.total for order {n}", "error", True),
    ("Disk usage on {host} at {pct}%", "warning", False),
    ("Payment provider returned HTTP 502 for {n} requests", "error", True),
)


@dataclass(frozen=True)
class SimulatedAlert:
    """One message a sender posts, with the ground truth of what it belongs to."""

    at: str
    tenant: str
    source: str
    payload: dict[str, Any]
    context: dict[str, Any]
    incident: str
    actionable: bool
    kind: str


def raw_alert(item: SimulatedAlert) -> RawAlert:
    """The ``alerts.raw`` record the HTTP bridge would write for ``item``."""
    return {
        "source": item.source,  # type: ignore[typeddict-item]
        "received_at": item.at,
        "tenant": item.tenant,
        "payload": item.payload,
        "context": item.context,
    }


@dataclass
class _Sim:
    rng: random.Random
    tenant: str
    end: datetime
    items: list[SimulatedAlert] = field(default_factory=list)
    incidents: int = 0

    def incident(self, kind: str) -> str:
        self.incidents += 1
        return f"{self.tenant}/{kind}-{self.incidents}"

    def host(self, service: str) -> str:
        return f"{service}-{self.rng.randrange(1, 9)}"

    def alertmanager(
        self,
        labels: dict[str, str],
        summary: str,
        start: datetime,
        end: datetime,
        incident: str,
        actionable: bool,
        kind: str,
    ) -> None:
        """One Alertmanager alert: firing, re-sent every group interval, then resolved."""
        labels = {**labels, "cluster": labels.get("cluster", "eu-1")}
        group = ",".join(f'{name}="{labels.get(name, "")}"' for name in GROUP_BY)
        context = {
            "version": "4",
            "receiver": "alertflow",
            "groupKey": f"{{}}:{{{group}}}",
            "groupLabels": {name: labels.get(name, "") for name in GROUP_BY},
            "externalURL": "http://alertmanager:9093",
        }
        alert = {
            "labels": labels,
            "annotations": {"summary": summary},
            "startsAt": format_time(start),
            "generatorURL": f"http://prometheus:9090/graph?g0.expr={labels['alertname']}",
        }
        moment = start + timedelta(seconds=self.rng.randrange(5, 30))  # group_wait
        while moment < min(end, self.end):
            payload = {**alert, "status": "firing", "endsAt": "0001-01-01T00:00:00Z"}
            self.add(moment, "alertmanager", payload, context, incident, actionable, kind)
            moment += GROUP_INTERVAL
        if end < self.end:
            payload = {**alert, "status": "resolved", "endsAt": format_time(end)}
            at = end + timedelta(seconds=self.rng.randrange(5, 60))
            self.add(at, "alertmanager", payload, context, incident, actionable, kind)

    def add(
        self,
        at: datetime,
        source: str,
        payload: dict[str, Any],
        context: dict[str, Any],
        incident: str,
        actionable: bool,
        kind: str,
    ) -> None:
        if at < self.end:
            item = SimulatedAlert(
                format_time(at), self.tenant, source, payload, context, incident, actionable, kind
            )
            self.items.append(item)

    def cascade(self, start: datetime) -> None:
        """A dependency fails; its dependents follow, level by level."""
        root = self.rng.choice(sorted(ROOT_ALERTS))
        incident = self.incident("cascade")
        duration = timedelta(minutes=self.rng.randrange(10, 40))
        name, text = ROOT_ALERTS[root]
        host = self.host(root)
        summary = text.format(host=host, n=self.rng.randrange(2, 90))
        labels = {"alertname": name, "service": root, "instance": host, "severity": "critical"}
        self.alertmanager(labels, summary, start, start + duration, incident, True, "cascade")
        level, frontier, seen = 1, [root], {root}
        while frontier:
            nxt = list(dict.fromkeys(d for s in frontier for d in DEPENDENTS[s] if d not in seen))
            seen.update(nxt)
            for service in nxt:
                if self.rng.random() > 0.85:
                    continue
                name, text = SYMPTOMS[(level + len(service)) % len(SYMPTOMS)]
                fires = start + timedelta(seconds=level * self.rng.randrange(40, 100))
                ends = start + duration - timedelta(seconds=level * self.rng.randrange(20, 60))
                ends = max(ends, fires + timedelta(minutes=3))
                summary = text.format(
                    service=service, pct=self.rng.randrange(5, 60), n=self.rng.randrange(600, 4000)
                )
                labels = {"alertname": name, "service": service, "severity": "warning"}
                self.alertmanager(labels, summary, fires, ends, incident, True, "cascade")
            frontier, level = nxt, level + 1

    def flap(self, start: datetime) -> None:
        """One alert that fires and resolves every few minutes, then settles: resolved, or — half
        the time — firing for a while longer, as a condition that finally stays does. Three in ten
        come from a health check that posts to the API on each change only (no re-posts)."""
        incident = self.incident("flap")
        host = self.host("worker")
        over_api = self.rng.random() < 0.3
        changes = self.rng.randrange(5, 9)
        settles_firing = self.rng.random() < 0.5
        moment = start
        for n in range(changes):
            up = timedelta(minutes=self.rng.randrange(1, 4))
            if settles_firing and n == changes - 1:
                up = timedelta(minutes=self.rng.randrange(20, 40))
            if over_api:
                payload = {
                    "title": f"Health check of {host} failing",
                    "severity": "warning",
                    "service": "batch",
                    "labels": {"instance": host, "cluster": "eu-1"},
                }
                self.add(moment, "api", payload, {}, incident, False, "flap")
                ended = {**payload, "status": "resolved"}
                self.add(moment + up, "api", ended, {}, incident, False, "flap")
            else:
                labels = {"alertname": "HighMemory", "service": "batch", "instance": host}
                summary = f"Memory of {host} above 90% ({self.rng.randrange(90, 99)}%)"
                self.alertmanager(labels, summary, moment, moment + up, incident, False, "flap")
            moment += up + timedelta(minutes=self.rng.randrange(1, 4))

    def storm(self, start: datetime) -> None:
        """A network partition: many distinct alerts within two minutes."""
        incident = self.incident("storm")
        ends = start + timedelta(minutes=self.rng.randrange(15, 30))
        for n in range(self.rng.randrange(60, 120)):
            name, text = self.rng.choice(STORM_ALERTS)
            service = self.rng.choice(sorted(DEPENDENTS))
            host = f"node-{n}"
            summary = text.format(host=host, service=service, n=self.rng.randrange(1, 9))
            labels = {"alertname": name, "service": service, "instance": host, "cluster": "eu-2"}
            fires = start + timedelta(seconds=self.rng.randrange(0, 120))
            self.alertmanager(labels, summary, fires, ends, incident, True, "storm")

    def noise(self, start: datetime) -> None:
        """An independent alert over the API, re-posted while it lasts."""
        text, severity, actionable = self.rng.choice(NOISE)
        incident = self.incident("noise")
        title = text.format(
            host=self.host("web"), n=self.rng.randrange(2, 5000), pct=self.rng.randrange(80, 99)
        )
        payload = {"title": title, "severity": severity, "service": "misc"}
        ends = start + timedelta(minutes=10) * self.rng.randrange(1, 3)
        moment = start
        while moment < ends:  # within the API's resolve timeout (5 minutes), as senders must
            self.add(moment, "api", payload, {}, incident, actionable, "noise")
            moment += API_REPOST
        self.add(ends, "api", {**payload, "status": "resolved"}, {}, incident, actionable, "noise")


def generate(
    seed: int = 1, hours: float = 6.0, tenants: tuple[str, ...] = ("acme", "globex")
) -> list[SimulatedAlert]:
    """Every message of ``hours`` of alerting for ``tenants``, sorted by time.

    >>> items = generate(seed=7, hours=2)
    >>> items == generate(seed=7, hours=2), items[0].at <= items[-1].at
    (True, True)
    >>> sorted({item.kind for item in items})
    ['cascade', 'flap', 'noise', 'storm']
    """
    rng = random.Random(seed)
    items: list[SimulatedAlert] = []
    end = START + timedelta(hours=hours)
    for tenant in tenants:
        sim = _Sim(random.Random(rng.random()), tenant, end)
        for every, make in (
            (timedelta(minutes=90), sim.cascade),
            (timedelta(minutes=80), sim.flap),
            (timedelta(minutes=6), sim.noise),
        ):
            moment = START + timedelta(minutes=sim.rng.randrange(0, 20))
            while moment < end - timedelta(minutes=5):
                make(moment)
                moment += every * (0.5 + sim.rng.random())
        sim.storm(START + (end - START) * (0.5 + 0.3 * sim.rng.random()))
        items += sim.items
    return sorted(items, key=lambda item: (item.at, item.tenant))
