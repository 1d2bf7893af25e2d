"""Routing, silences, inhibition, escalation and exactly-once notification on the real broker.

The module restarts the session worker with its own ``ALERTFLOW_CONFIG`` (routes for the
``nf-*`` tenants only; everything else still goes to the session's webhook receiver) and puts
the worker back as it was at the end.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.harness import TopicReader, Worker, accepted, eventually, http, reading, unique

PARTITIONS = 4


class Service:
    """A notification service stand-in: records every POST; can hold the first one."""

    def __init__(self, hold_first: float = 0.0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.hold_first = hold_first
        self.arrived = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                first = not service.posts
                service.posts.append({"headers": dict(self.headers), "body": body})
                service.arrived.set()
                if first and service.hold_first:
                    time.sleep(service.hold_first)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self, incident_id: str) -> list[dict[str, Any]]:
        return [p["body"] for p in self.posts if p["body"].get("incident_id") == incident_id]

    def wait(self, incident_id: str, count: int = 1, timeout: float = 30.0) -> list[dict]:
        return eventually(
            lambda: len(found := self.bodies(incident_id)) >= count and found,
            timeout,
            f"{count} notification(s) for {incident_id}",
        )


SERVICES = ("oncall", "boss", "slow")


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, Service]]:
    found = {name: Service(hold_first=8.0 if name == "slow" else 0.0) for name in SERVICES}
    yield found
    for service in found.values():
        service.server.shutdown()


def config(services: dict[str, Service], extra_routes: list | None = None) -> dict[str, Any]:
    return {
        "receivers": [
            {"name": name, "type": "webhook", "url": service.url, "attempts": 2, "timeout": 20}
            for name, service in services.items()
        ],
        "routes": {
            "receiver": "webhook",
            "routes": [
                *(extra_routes or []),
                {
                    "matchers": ['tenant=~"nf-esc-.*"'],
                    "receiver": "oncall",
                    "escalation": "chain",
                },
                {"matchers": ['tenant=~"nf-crash-.*"'], "receiver": "slow"},
                {"matchers": ['tenant=~"nf-.*"'], "receiver": "oncall", "group_interval": "1s"},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="NodeDown"'],
                "target_matchers": ['alertname!="NodeDown"'],
                "equal": ["tenant", "node"],
            }
        ],
        "escalation_policies": [
            {"name": "chain", "levels": [{"after": "10m", "receivers": ["boss"]}]}
        ],
        "notify": {"tick_interval": "1s", "resend_after": "3s", "reload_interval": "1s"},
    }


@pytest.fixture(scope="module")
def configured(
    worker: Worker, services: dict[str, Service], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The session worker, restarted with this module's configuration."""
    path = tmp_path_factory.mktemp("notify") / "alertflow.yaml"
    path.write_text(yaml.safe_dump(config(services)))
    worker.stop()
    worker.env["ALERTFLOW_CONFIG"] = str(path)
    worker.start()
    yield path
    worker.stop()
    del worker.env["ALERTFLOW_CONFIG"]
    worker.start()


@pytest.fixture(scope="module")
def failed(bootstrap: str, worker: Worker) -> Iterator[TopicReader]:
    yield from reading(bootstrap, "notifications.failed")


def _post(worker: Worker, tenant: str, *alerts: dict[str, Any]) -> list[str]:
    return accepted(worker, f"/api/v1/alerts?tenant={tenant}", list(alerts))


def _enriched(enriched: TopicReader, alert_id: str, ready=lambda v: True) -> dict[str, Any]:
    records = enriched.wait(lambda key, value: key == alert_id and ready(value))
    return records[-1][1]


def _at(base: datetime, minutes: float) -> str:
    return (base + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _tick(bootstrap: str, at: datetime) -> dict[int, int]:
    """Advance event time on every partition; returns the offsets that carry the ticks."""
    producer = Producer({"bootstrap.servers": bootstrap})
    ends: dict[int, int] = {}

    def delivered(error: Any, message: Any) -> None:
        assert error is None, error
        ends[message.partition()] = message.offset() + 1

    value = json.dumps({"kind": "tick", "at_ms": int(at.timestamp() * 1000)}).encode()
    for partition in range(PARTITIONS):
        producer.produce("notify.events", value=value, partition=partition, on_delivery=delivered)
    producer.flush(10)
    return ends


def _processed(bootstrap: str, ends: dict[int, int]) -> bool:
    """Whether the worker group committed ``notify.events`` past the given offsets."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    request = [
        ConsumerGroupTopicPartitions(
            "alertflow", [TopicPartition("notify.events", p) for p in ends]
        )
    ]
    committed = admin.list_consumer_group_offsets(request)["alertflow"].result().topic_partitions
    return all(tp.offset >= ends[tp.partition] for tp in committed)


def test_silenced_alert_flows_with_the_reason_and_pages_nobody(
    configured: Path, worker: Worker, enriched: TopicReader, services: dict[str, Service]
) -> None:
    tenant = unique("nf-silence")
    body = {
        "matchers": [f"tenant={tenant}", {"name": "service", "value": "d.", "isRegex": True}],
        "ends_at": _at(datetime.now(UTC), 60),
        "created_by": "ann",
        "comment": "planned migration",
    }
    created = http("POST", f"{worker.url}/api/v1/silences", body)
    assert created.status == 202, created.body
    silence_id = created.body["id"]
    listed = eventually(
        lambda: [
            s
            for s in http("GET", f"{worker.url}/api/v1/silences?state=active").body["silences"]
            if s["id"] == silence_id
        ],
        what="the silence in the list",
    )
    assert listed[0]["created_by"] == "ann" and listed[0]["status"] == {"state": "active"}
    bad = http("POST", f"{worker.url}/api/v1/silences", {"matchers": ["x=~("], "ends_at": "t"})
    assert bad.status == 400 and bad.body["error"] == "invalid_silence"

    silenced, loud = _post(
        worker,
        tenant,
        {"title": "Replication lag", "service": "db", "labels": {"alertname": "Lag"}},
        {"title": "Queue depth", "service": "mq", "labels": {"alertname": "Depth"}},
    )
    muted = _enriched(enriched, silenced)
    assert muted["decision"] == "suppress"
    assert any(
        f"silenced by {silence_id}" in r and "planned migration" in r for r in muted["reasons"]
    )
    heard = _enriched(enriched, loud)
    assert not any("silenced" in r for r in heard["reasons"])
    services["oncall"].wait(heard["incident_id"])
    assert services["oncall"].bodies(muted["incident_id"]) == []

    expired = http("DELETE", f"{worker.url}/api/v1/silences/{silence_id}")
    assert expired.status == 202 and expired.body["status"] == {"state": "expired"}
    eventually(
        lambda: (
            http("GET", f"{worker.url}/api/v1/silences/{silence_id}").body["status"]["state"]
            == "expired"
        ),
        what="the silence to expire",
    )
    assert http("DELETE", f"{worker.url}/api/v1/silences/nope").status == 404


def test_inhibited_alert_flows_with_its_source_and_pages_nobody(
    configured: Path, worker: Worker, enriched: TopicReader, services: dict[str, Service]
) -> None:
    tenant = unique("nf-inhibit")
    (source,) = _post(
        worker,
        tenant,
        {
            "title": "Node n1 down",
            "service": "node",
            "severity": "critical",
            "labels": {"alertname": "NodeDown", "node": "n1"},
        },
    )
    down = _enriched(enriched, source)
    services["oncall"].wait(down["incident_id"])
    target, other = _post(
        worker,
        tenant,
        {
            "title": "Disk full on n1",
            "service": "disk",
            "labels": {"alertname": "DiskFull", "node": "n1"},
        },
        {
            "title": "Disk full on n2",
            "service": "disk2",
            "labels": {"alertname": "DiskFull", "node": "n2"},
        },
    )
    inhibited = _enriched(enriched, target)
    assert inhibited["decision"] == "suppress"
    assert f"inhibited by alert {source}" in inhibited["reasons"]
    free = _enriched(enriched, other)
    assert not any("inhibited" in r for r in free["reasons"])
    # Triage may merge either DiskFull incident into another (same template, same node) before
    # or after its first notification, so the alert is looked for in any incident's notification.
    eventually(
        lambda: any(other in post["body"]["added_alert_ids"] for post in services["oncall"].posts),
        what="a notification about the alert that is not inhibited",
    )
    everything = [p["body"] for p in services["oncall"].posts]
    assert not any(target in body["added_alert_ids"] for body in everything)


def test_a_notification_says_what_changed_once_per_state(
    configured: Path,
    worker: Worker,
    enriched: TopicReader,
    sent: TopicReader,
    services: dict[str, Service],
) -> None:
    tenant = unique("nf-diff")
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    alert = {"title": "Error rate high", "service": "api", "labels": {"alertname": "Errors"}}
    (a1,) = _post(
        worker,
        tenant,
        {**alert, "labels": {"alertname": "Errors", "pod": "1"}, "starts_at": _at(base, 0)},
    )
    incident_id = _enriched(enriched, a1)["incident_id"]
    (first,) = services["oncall"].wait(incident_id)
    assert first["change"] == "firing" and first["added_alert_ids"] == [a1]
    (a2,) = _post(
        worker,
        tenant,
        {**alert, "labels": {"alertname": "Errors", "pod": "2"}, "starts_at": _at(base, 1)},
    )
    assert _enriched(enriched, a2)["incident_id"] == incident_id
    second = services["oncall"].wait(incident_id, 2)[1]
    assert second["change"] == "update" and second["added_alert_ids"] == [a2]
    assert second["resolved_alert_ids"] == []
    _post(
        worker,
        tenant,
        {
            **alert,
            "labels": {"alertname": "Errors", "pod": "1"},
            "starts_at": _at(base, 0),
            "status": "resolved",
            "ends_at": _at(base, 2),
        },
    )
    third = services["oncall"].wait(incident_id, 3)[2]
    assert third["change"] == "update" and third["resolved_alert_ids"] == [a1]
    _post(
        worker,
        tenant,
        {
            **alert,
            "labels": {"alertname": "Errors", "pod": "2"},
            "starts_at": _at(base, 1),
            "status": "resolved",
            "ends_at": _at(base, 3),
        },
    )
    fourth = services["oncall"].wait(incident_id, 4)[3]
    assert fourth["status"] == "resolved" and fourth["resolved_alert_ids"] == [a2]
    records = sent.wait(lambda key, value: key == incident_id, count=4)
    assert len({value["notification_id"] for _, value, _ in records}) == 4
    assert {value["receiver"] for _, value, _ in records} == {"oncall"}
    time.sleep(2)  # ticks keep coming: nothing more is owed
    assert len(services["oncall"].bodies(incident_id)) == 4


def test_escalation_fires_in_event_time_survives_a_restart_and_stops_on_ack(
    configured: Path,
    worker: Worker,
    bootstrap: str,
    enriched: TopicReader,
    services: dict[str, Service],
) -> None:
    # Event times ahead of the wall clock, so the worker's own ticks do not reach them while
    # the test runs; less than an hour ahead, or the API takes them as the receive time.
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=50)
    ignored, acked = (
        _post(
            worker,
            unique("nf-esc"),
            {"title": "Checkout failing", "service": "checkout", "starts_at": _at(base, 0)},
        )[0]
        for _ in range(2)
    )
    ignored_incident = _enriched(enriched, ignored)["incident_id"]
    acked_incident = _enriched(enriched, acked)["incident_id"]
    services["oncall"].wait(ignored_incident)
    services["oncall"].wait(acked_incident)
    assert ignored_incident != acked_incident
    ack = http("POST", f"{worker.url}/api/v1/incidents/{acked_incident}/acknowledge", {"by": "ann"})
    assert ack.status == 202
    told = services["oncall"].wait(acked_incident, 2)[1]
    assert told["change"] == "acknowledged" and told["status"] == "acknowledged"

    ends = _tick(bootstrap, base + timedelta(minutes=9, seconds=59))
    eventually(lambda: _processed(bootstrap, ends), 30, "the ticks to be processed")
    assert services["boss"].bodies(ignored_incident) == [], "escalated before 10 minutes"

    worker.stop(kill=True)  # the timers are in a table: they survive the worker
    worker.start()
    _tick(bootstrap, base + timedelta(minutes=10))
    (escalated,) = services["boss"].wait(ignored_incident)
    assert escalated["change"] == "escalation" and escalated["escalation_level"] == 1
    assert escalated["added_alert_ids"] == [ignored]
    ends = _tick(bootstrap, base + timedelta(minutes=30))
    eventually(lambda: _processed(bootstrap, ends), 30, "the ticks to be processed")
    assert services["boss"].bodies(acked_incident) == [], "an acknowledged incident escalated"
    assert len(services["boss"].bodies(ignored_incident)) == 1


def test_kill_between_alert_and_notification_sends_exactly_one(
    configured: Path,
    worker: Worker,
    enriched: TopicReader,
    sent: TopicReader,
    services: dict[str, Service],
) -> None:
    slow = services["slow"]
    tenant = unique("nf-crash")
    (alert_id,) = _post(worker, tenant, {"title": "Payments down", "service": "pay"})
    incident_id = _enriched(enriched, alert_id)["incident_id"]
    assert slow.arrived.wait(30), "the first send never reached the service"
    worker.stop(kill=True)  # while the service still holds the request
    worker.start()
    records = sent.wait(lambda key, value: key == incident_id, timeout=60)
    time.sleep(5)  # longer than resend_after: a second send would have started by now
    records = sent.matching(lambda key, value: key == incident_id)
    assert len(records) == 1, records
    posts = slow.bodies(incident_id)
    assert 1 <= len(posts) <= 2
    assert {p["notification_id"] for p in posts} == {records[0][1]["notification_id"]}


def test_config_reload_routes_new_alerts_and_keeps_the_last_good(
    configured: Path, worker: Worker, enriched: TopicReader, services: dict[str, Service]
) -> None:
    tenant = unique("nf-reload")
    configured.write_text(
        yaml.safe_dump(config(services, [{"matchers": [f"tenant={tenant}"], "receiver": "boss"}]))
    )
    time.sleep(2.5)  # reload_interval is 1 s
    broken = config(services, [{"matchers": [f"tenant={tenant}"], "receiver": "nobody"}])
    configured.write_text(yaml.safe_dump(broken))  # an unknown receiver: ignored, logged
    time.sleep(2.5)
    (alert_id,) = _post(worker, tenant, {"title": "Cache misses", "service": "cache"})
    incident_id = _enriched(enriched, alert_id)["incident_id"]
    services["boss"].wait(incident_id)
    assert services["oncall"].bodies(incident_id) == []
    configured.write_text(yaml.safe_dump(config(services)))
    time.sleep(2.5)
    for service in ("oncall", "boss"):  # no reload or restart sent anything twice
        ids = [post["body"]["notification_id"] for post in services[service].posts]
        assert len(ids) == len(set(ids)), service
