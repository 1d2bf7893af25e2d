"""A realistic alert storm: Alertmanager group re-sends, Sentry events, a few API alerts.

:class:`Storm` plays Alertmanager and Sentry over simulated event time. Alertmanager re-sends
the whole group at each notification, so most of its alerts are duplicates that dedup drops;
members resolve and fire again (a recurring fingerprint, a new episode); Sentry issues recur
with a new event each time. Every send is a :class:`Send`, which becomes ``alerts.raw``
records exactly as the HTTP bridge writes them, or an HTTP body.

>>> storm = Storm(seed=1, start_ms=1_700_000_000_000)
>>> sends = [storm.next_send() for _ in range(200)]
>>> sum(len(s.alerts) for s in sends) == storm.alerts
True
>>> len(storm.fingerprints) < storm.alerts / 2  # re-sends and recurring fingerprints
True
>>> {s.source for s in sends} == {"alertmanager", "sentry", "api"}
True
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from app.identity import label_fingerprint
from app.records import RawAlert

TENANTS = tuple(f"team-{name}" for name in ("core", "pay", "web", "data", "edge", "ml", "ops"))
ALERTNAMES = (
    ("HighLatency", "p99 latency of {service} is {n}ms", "warning"),
    ("HighErrorRate", "{service} returns 5xx for {n}% of requests", "critical"),
    ("DiskFull", "disk of {instance} is {n}% full", "critical"),
    ("PodCrashLooping", "pod {instance} restarted {n} times in 10 minutes", "warning"),
    ("MemoryPressure", "{instance} uses {n}% of its memory limit", "warning"),
    ("TargetDown", "{instance} has been unreachable for {n} scrapes", "critical"),
    ("CertificateExpiry", "certificate of {service} expires in {n} days", "info"),
    ("QueueBacklog", "queue of {service} holds {n} messages", "warning"),
)
SENTRY_ERRORS = (
    ("TypeError", "Cannot read properties of undefined (reading '{field}')"),
    ("TimeoutError", "request to http://{service}:8080/v1/{field} timed out after {n}ms"),
    ("KeyError", "'{field}_{n}'"),
    ("ConnectionError", "connection to db-{n}.internal:5432 refused"),
    ("ValueError", "invalid literal for int() with base 10: '{field}{n}'"),
)
FIELDS = ("id", "user", "order", "cart", "session", "token", "price")
GROUP_INTERVAL_MS = 5  # simulated event time between two sends: a storm of 200 sends/s


def rfc3339(ms: int) -> str:
    """Milliseconds since the epoch as Alertmanager writes times.

    >>> rfc3339(1_700_000_000_123)
    '2023-11-14T22:13:20.123Z'
    """
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


@dataclass
class Send:
    """What one sender posts at once: an Alertmanager group, a Sentry event, API alerts."""

    source: str
    tenant: str
    alerts: list[dict[str, Any]]  # the source's own alert objects
    fingerprints: list[str]
    starts_ms: list[int]
    context: dict[str, Any] = field(default_factory=dict)

    def raws(self, received_at: str) -> list[RawAlert]:
        """The source alerts of this send as the HTTP views hand them to the bridge."""
        return [
            {
                "source": self.source,  # type: ignore[typeddict-item]
                "received_at": received_at,
                "tenant": self.tenant,
                "payload": alert,
                "context": self.context,
            }
            for alert in self.alerts
        ]

    def webhook_body(self) -> bytes:
        """The Alertmanager webhook (version 4) of an Alertmanager send."""
        return orjson.dumps({**self.context, "alerts": self.alerts})


@dataclass
class _Member:
    labels: dict[str, str]
    annotations: dict[str, str]
    fingerprint: str
    starts_ms: int
    status: str = "firing"


@dataclass
class _Group:
    tenant: str
    alertname: str
    service: str
    severity: str
    members: list[_Member]


class Storm:
    """Sends of a realistic mix; ``alerts`` and ``fingerprints`` (tenant, fingerprint) so far.

    ``fresh`` makes every send a new Alertmanager group of ten new fingerprints (nothing is a
    duplicate, every alert goes through every stage); those are counted, not remembered.
    """

    def __init__(
        self,
        seed: int,
        start_ms: int,
        *,
        fresh: bool = False,
        max_groups: int = 3000,
        tenants: int = len(TENANTS),
    ) -> None:
        self.rng = random.Random(seed)
        self.tenants = TENANTS[:tenants]
        self.now_ms = start_ms
        self.fresh = fresh
        self.max_groups = max_groups
        self.groups: list[_Group] = []
        self.issues: list[tuple[str, str, str, str]] = []  # tenant, issue id, kind, template
        self.fingerprints: set[tuple[str, str]] = set()
        self.alerts = self.serial = 0
        self.instance = f"{seed:x}"

    def next_send(self) -> Send:
        """The next send of the storm; advances event time."""
        self.now_ms += GROUP_INTERVAL_MS
        roll = self.rng.random()
        if self.fresh or roll < 0.12 or not self.groups:
            send = self._new_group(size=10 if self.fresh else self.rng.randint(1, 8))
        elif roll < 0.72:
            send = self._resend(self.rng.choice(self.groups))
        elif roll < 0.95:
            send = self._sentry_event()
        else:
            send = self._api_alerts()
        self.alerts += len(send.alerts)
        if not self.fresh:
            self.fingerprints.update((send.tenant, f) for f in send.fingerprints)
        return send

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def _new_group(self, size: int) -> Send:
        alertname, _, severity = self.rng.choice(ALERTNAMES)
        group = _Group(
            self.rng.choice(self.tenants),
            alertname,
            f"svc-{self.instance}-{self._next()}",
            severity,
            [],
        )
        group.members = [self._member(group) for _ in range(size)]
        if not self.fresh:
            self.groups.append(group)
            if len(self.groups) > self.max_groups:
                self.groups.pop(self.rng.randrange(len(self.groups) // 2))
        return self._am_send(group, group.members)

    def _member(self, group: _Group) -> _Member:
        instance = f"{group.service}-{self._next()}:9100"
        labels = {
            "alertname": group.alertname,
            "service": group.service,
            "instance": instance,
            "severity": group.severity,
            "cluster": self.rng.choice(("prod-eu", "prod-us", "staging")),
        }
        template = next(text for name, text, _ in ALERTNAMES if name == group.alertname)
        summary = template.format(
            service=group.service, instance=instance, n=self.rng.randint(2, 999)
        )
        annotations = {"summary": summary, "runbook_url": f"https://runbooks/{group.alertname}"}
        return _Member(labels, annotations, label_fingerprint(labels), self.now_ms)

    def _resend(self, group: _Group) -> Send:
        """Alertmanager's next notification of a group: every member, a few changed."""
        roll = self.rng.random()
        if roll < 0.15:
            group.members.append(self._member(group))
        elif roll < 0.25:
            self.rng.choice(group.members).status = "resolved"
        elif roll < 0.32 and (resolved := [m for m in group.members if m.status == "resolved"]):
            member = self.rng.choice(resolved)  # fires again: a new episode of the fingerprint
            member.status, member.starts_ms = "firing", self.now_ms
        members = list(group.members)
        group.members = [m for m in group.members if m.status == "firing"] or members[:1]
        return self._am_send(group, members)

    def _am_send(self, group: _Group, members: list[_Member]) -> Send:
        group_labels = {"alertname": group.alertname, "service": group.service}
        alerts = [
            {
                "status": m.status,
                "labels": m.labels,
                "annotations": m.annotations,
                "startsAt": rfc3339(m.starts_ms),
                "endsAt": rfc3339(self.now_ms)
                if m.status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus:9090/graph?g0.expr=ALERTS%7B{m.fingerprint}%7D",
                "fingerprint": m.fingerprint,
            }
            for m in members
        ]
        firing = all(m.status == "firing" for m in members)
        context = {
            "receiver": "alertflow",
            "status": "firing" if firing else "resolved",
            "groupLabels": group_labels,
            "commonLabels": {**group_labels, "severity": group.severity},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{group.alertname}", service="{group.service}"}}',
            "truncatedAlerts": 0,
        }
        return Send(
            "alertmanager",
            group.tenant,
            alerts,
            [m.fingerprint for m in members],
            [m.starts_ms for m in members],
            context,
        )

    def _sentry_event(self) -> Send:
        """A Sentry event alert: 80% of the time an issue seen before."""
        if self.issues and self.rng.random() < 0.8:
            tenant, issue_id, kind, template = self.rng.choice(self.issues)
        else:
            kind, template = self.rng.choice(SENTRY_ERRORS)
            tenant, issue_id = self.rng.choice(self.tenants), str(1_000_000_000 + self._next())
            self.issues.append((tenant, issue_id, kind, template))
        project = f"web-{int(issue_id) % 40}"
        message = template.format(
            field=self.rng.choice(FIELDS), service=project, n=self.rng.randint(1, 99999)
        )
        event_id = uuid.UUID(int=self.rng.getrandbits(128)).hex
        event = {
            "event_id": event_id,
            "issue_id": issue_id,
            "title": f"{kind}: {message}",
            "message": "",
            "culprit": f"app/{project}/handlers.py in handle_{self.rng.choice(FIELDS)}",
            "datetime": rfc3339(self.now_ms),
            "level": "error",
            "platform": "python",
            "environment": "production",
            "release": f"{project}@1.{int(issue_id) % 17}.0",
            "project": int(issue_id) % 40,
            "url": f"https://sentry.io/api/0/projects/acme/{project}/events/{event_id}/",
            "web_url": f"https://sentry.io/organizations/acme/issues/{issue_id}/events/{event_id}/",
            "issue_url": f"https://sentry.io/api/0/issues/{issue_id}/",
            "tags": [
                ["level", "error"],
                ["environment", "production"],
                ["runtime", "CPython 3.11"],
            ],
            "metadata": {"type": kind, "value": message},
        }
        context = {
            "via": "webhook",
            "resource": "event_alert",
            "action": "triggered",
            "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"},
        }
        fingerprint = label_fingerprint({"sentry_issue_id": issue_id})
        data = {"event": event, "triggered_rule": "bench storm"}
        return Send("sentry", tenant, [data], [fingerprint], [self.now_ms], context)

    def _api_alerts(self) -> Send:
        """A batch job posting to ``/api/v1/alerts``: a few checks, some recurring."""
        tenant = self.rng.choice(self.tenants)
        alerts, fingerprints = [], []
        for _ in range(self.rng.randint(1, 3)):
            check = f"backup-{self.rng.randint(1, 500)}"
            alert = {
                "title": f"{check} failed",
                "description": f"exit code {self.rng.randint(1, 3)}",
                "severity": "error",
                "service": "backups",
                "labels": {"check": check},
                "starts_at": rfc3339(self.now_ms),
            }
            identity = {
                "check": check,
                "__title__": alert["title"],
                "__service__": "backups",
                "__tenant__": tenant,
            }
            alerts.append(alert)
            fingerprints.append(label_fingerprint(identity))
        return Send("api", tenant, alerts, fingerprints, [self.now_ms] * len(alerts))


def fresh_groups(
    seed: int, start_ms: int, alerts: int, tenants: int = len(TENANTS)
) -> Iterator[Send]:
    """Alertmanager groups of 10 new fingerprints each, ``alerts`` alerts in all (rounded up)."""
    storm = Storm(seed, start_ms, fresh=True, tenants=tenants)
    while storm.alerts < alerts:
        yield storm.next_send()
