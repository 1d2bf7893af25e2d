"""The notify stage on the real broker, with triage and correlate stood in for.

Alerts go through the bridge and dedup as always; what triage and correlate would write to
``alerts.correlated`` (batch messages keyed by incident id, in the incident's partition) is
written by :class:`Chain` from the records dedup passed on, with the incident each test
chooses. Merges are written to ``notify.events`` as triage writes them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer

from tests.harness import (
    Receiver,
    TopicReader,
    Worker,
    accepted,
    await_view,
    eventually,
    http,
    unique,
)
from tests.standin import Chain, items


@pytest.fixture(scope="module")
def chain(bootstrap: str, worker: Worker) -> Iterator[Chain]:
    standin = Chain(bootstrap)
    yield standin
    standin.close()


@pytest.fixture(scope="module")
def examples(bootstrap: str, worker: Worker) -> Iterator[TopicReader]:
    reader = TopicReader(bootstrap, "learning.examples")
    yield reader
    reader.close()


def _learned(examples: TopicReader, alert_id: str) -> list[dict[str, Any]]:
    """The examples sent for ``alert_id`` (batch messages of ``learning.examples``)."""

    def found() -> list[dict[str, Any]]:
        records = examples.matching(lambda key, value: True)
        sent = [example for _, value, _ in records for _, example in items(value)]
        return [example for example in sent if example["alert_id"] == alert_id]

    return eventually(found, 30, f"an example of {alert_id}")


def _post(worker: Worker, tenant: str, *alerts: dict[str, Any]) -> list[str]:
    return accepted(worker, f"/api/v1/alerts?tenant={tenant}", list(alerts))


def _at(minutes: float) -> str:
    moment = (
        datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1) + timedelta(minutes=minutes)
    )
    return moment.isoformat().replace("+00:00", "Z")


def test_alerts_are_published_paged_and_viewable_and_every_id_resolves(
    worker: Worker, chain: Chain, enriched: TopicReader, receiver: Receiver
) -> None:
    tenant, incident_id = unique("ns"), uuid.uuid4().hex
    alerts = [
        {
            "title": f"Disk full on db-{n}",
            "service": "db",
            "labels": {"alertname": "DiskFull", "host": f"db-{n}"},
            "starts_at": _at(0),
        }
        for n in (1, 2)
    ]
    ids = _post(worker, tenant, *alerts)
    chain.correlate(incident_id, *(chain.passed(alert_id)[0] for alert_id in ids))

    records = enriched.wait(lambda key, value: key in ids, count=2)
    assert {value["incident_id"] for _, value, _ in records} == {incident_id}
    assert not {"seq", "features", "route", "group"} & set(records[0][1]), "internal fields leak"
    (page,) = receiver.wait(lambda n: n["incident_id"] == incident_id)
    assert page["status"] == "firing" and sorted(page["alert_ids"]) == sorted(ids)
    assert page["alert_count"] == 2

    view = await_view(worker, f"/api/v1/alerts/{ids[0]}")
    assert view["incident_id"] == incident_id and view["feedback"] == []
    incident = await_view(worker, f"/api/v1/incidents/{incident_id}")
    assert (incident["status"], incident["alert_count"], incident["firing_count"]) == (
        "firing",
        2,
        2,
    )
    assert [e["what"] for e in incident["timeline"]][:2] == ["opened", "firing"]
    listed = await_view(worker, f"/api/v1/incidents?tenant={tenant}")
    assert [i["id"] for i in listed["incidents"]] == [incident_id]

    (again,) = _post(worker, tenant, {**alerts[0], "starts_at": _at(1)})  # joins the episode
    assert again != ids[0]
    joined = await_view(worker, f"/api/v1/alerts/{again}")
    assert (joined["id"], joined["requested_id"], joined["joined"]) == (ids[0], again, ids[0])
    assert http("GET", f"{worker.url}/api/v1/alerts/{uuid.uuid4().hex}").status == 404


def test_acknowledge_labels_and_resolving_the_incident_closes_it_once(
    worker: Worker,
    chain: Chain,
    enriched: TopicReader,
    receiver: Receiver,
    feedback_topic: TopicReader,
    examples: TopicReader,
) -> None:
    tenant, incident_id = unique("ns"), uuid.uuid4().hex
    ids = _post(
        worker,
        tenant,
        *(
            {
                "title": f"Queue {n} backing up",
                "service": "mq",
                "labels": {"alertname": "Backlog", "q": str(n)},
            }
            for n in (1, 2)
        ),
    )
    first = chain.passed(ids[0])[0]
    chain.correlate(incident_id, first, chain.passed(ids[1])[0])
    receiver.wait(lambda n: n["incident_id"] == incident_id)
    await_view(worker, f"/api/v1/alerts/{ids[0]}")

    ack = http(
        "POST", f"{worker.url}/api/v1/alerts/{ids[0]}/acknowledge", {"by": "ann", "note": "on it"}
    )
    assert ack.status == 202 and ack.body["ids"] == [ids[0]]
    (_, feedback, _), *_ = feedback_topic.wait(lambda key, value: key == ids[0])
    assert feedback["incident_id"] == incident_id and feedback["scope"] == "alert"
    told = receiver.wait(
        lambda n: n["incident_id"] == incident_id and n["change"] == "acknowledged"
    )
    assert len(told) == 1
    (example,) = _learned(examples, ids[0])
    assert (example["label"], example["source"], example["tenant"]) == (True, "ack", tenant)
    view = await_view(worker, f"/api/v1/alerts/{ids[0]}", lambda b: b["acknowledged"])
    assert view["feedback"][0]["note"] == "on it"
    stats = await_view(
        worker,
        f"/api/v1/fingerprints/{first['fingerprint']}?tenant={tenant}",
        lambda b: b.get("acks") == 1,
    )
    assert stats["actionable"] == 1 and stats["template"] == "Queue 1 backing up"

    done = http(
        "POST",
        f"{worker.url}/api/v1/incidents/{incident_id}/resolve",
        {"by": "bob", "actionable": False},
    )
    assert done.status == 202 and sorted(done.body["ids"]) == sorted(ids)
    resolved = receiver.wait(
        lambda n: n["incident_id"] == incident_id and n["status"] == "resolved"
    )
    incident = await_view(
        worker, f"/api/v1/incidents/{incident_id}", lambda b: b["status"] == "resolved"
    )
    assert incident["resolved_by"] == "bob" and incident["acknowledged_by"] == "ann"
    assert any(entry["what"] == "closed" for entry in incident["timeline"])
    eventually(lambda: [e for e in _learned(examples, ids[1]) if e["label"] is False])
    eventually(lambda: len(receiver.wait(lambda n: n["incident_id"] == incident_id)) >= 3)
    assert len(resolved) == 1
    assert (
        len(
            [
                n
                for n in receiver.wait(lambda n: n["incident_id"] == incident_id)
                if n["status"] == "resolved"
            ]
        )
        == 1
    )


def test_feedback_written_without_its_incident_still_acts(
    worker: Worker, bootstrap: str, chain: Chain, receiver: Receiver
) -> None:
    tenant, incident_id = unique("ns"), uuid.uuid4().hex
    (alert_id,) = _post(worker, tenant, {"title": "Cache misses", "service": "cache"})
    chain.correlate(incident_id, chain.passed(alert_id)[0])
    receiver.wait(lambda n: n["incident_id"] == incident_id)
    record = {
        "alert_id": alert_id,
        "kind": "ack",
        "actionable": True,
        "by": "outsider",
        "at": _at(30),
    }
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("alerts.feedback", key=alert_id.encode(), value=json.dumps(record).encode())
    assert producer.flush(10) == 0
    receiver.wait(lambda n: n["incident_id"] == incident_id and n["change"] == "acknowledged")
    incident = await_view(
        worker, f"/api/v1/incidents/{incident_id}", lambda b: b["acknowledged_by"]
    )
    assert incident["acknowledged_by"] == "outsider"


def test_a_silenced_alert_is_published_suppressed_and_pages_nobody(
    worker: Worker, chain: Chain, enriched: TopicReader, receiver: Receiver
) -> None:
    tenant, muted, loud = unique("ns"), uuid.uuid4().hex, uuid.uuid4().hex
    body = {"matchers": [f"tenant={tenant}", "service=db"], "ends_at": _at(180), "comment": "mig"}
    created = http("POST", f"{worker.url}/api/v1/silences", body)
    assert created.status == 202, created.body
    eventually(
        lambda: http("GET", f"{worker.url}/api/v1/silences/{created.body['id']}").status == 200
    )
    quiet, heard = _post(
        worker,
        tenant,
        {"title": "Replication lag", "service": "db"},  # starting now: inside the silence
        {"title": "Queue depth", "service": "mq"},
    )
    chain.correlate(muted, chain.passed(quiet)[0])
    chain.correlate(loud, chain.passed(heard)[0])
    (_, published, _), *_ = enriched.wait(lambda key, value: key == quiet)
    assert published["decision"] == "suppress"
    assert any(f"silenced by {created.body['id']}" in r for r in published["reasons"])
    receiver.wait(lambda n: n["incident_id"] == loud)
    incident = await_view(worker, f"/api/v1/incidents/{muted}")
    assert incident["muted_count"] == 1 and incident["firing_count"] == 1
    assert not [p for p in receiver.posts if p["body"]["incident_id"] == muted]


def test_a_second_worker_answers_for_alerts_and_incidents_it_does_not_hold(
    worker: Worker, chain: Chain, feedback_topic: TopicReader, tmp_path: Any
) -> None:
    tenant = unique("two")
    ids = _post(worker, tenant, *({"title": f"spread {n}", "service": f"s{n}"} for n in range(8)))
    incidents = [uuid.uuid4().hex for _ in ids]
    for alert_id, incident_id in zip(ids, incidents, strict=True):
        chain.correlate(incident_id, chain.passed(alert_id)[0])
    for alert_id in ids:
        await_view(worker, f"/api/v1/alerts/{alert_id}")
    second = Worker(worker.bootstrap, tmp_path / "second", env={**worker.env})
    second.start()
    try:
        eventually(
            lambda: http("GET", f"{second.url}/api/v1/health").body.get("partitions", 0) > 0,
            90,
            "the second worker to own partitions",
        )
        for alert_id, incident_id in zip(ids, incidents, strict=True):
            for url in (worker.url, second.url):
                view = eventually(
                    lambda u=url, a=alert_id: (
                        (r := http("GET", f"{u}/api/v1/alerts/{a}")).status == 200 and r.body
                    ),
                    60,
                    f"alert {alert_id} from {url}",
                )
                assert view["incident_id"] == incident_id
                found = http("GET", f"{url}/api/v1/incidents/{incident_id}")
                assert found.status == 200 and found.body["alert_ids"] == [alert_id]
            answer = http(
                "POST", f"{second.url}/api/v1/alerts/{alert_id}/acknowledge", {"by": "two"}
            )
            assert answer.status == 202, answer.body
        acks = feedback_topic.wait(lambda key, value: key in ids, count=len(ids))
        assert {value["incident_id"] for _, value, _ in acks} == set(incidents)
        listed = http("GET", f"{second.url}/api/v1/incidents?tenant={tenant}&limit=100").body
        assert {incident["id"] for incident in listed["incidents"]} == set(incidents)
    finally:
        second.stop()


def test_a_storm_of_50000_alerts_in_one_incident_keeps_every_row_small(
    worker: Worker, bootstrap: str, chain: Chain, enriched: TopicReader, receiver: Receiver
) -> None:
    tenant, incident_id = unique("storm"), uuid.uuid4().hex
    changelogs = {
        name: TopicReader(bootstrap, f"alertflow-{name}-changelog")
        for name in ("incidents", "members", "nflog", "timers")
    }
    try:
        base = {
            "tenant": tenant,
            "source": "api",
            "status": "firing",
            "severity": "warning",
            "service": "edge",
            "title": "Upstream down",
            "description": "",
            "labels": {"alertname": "UpstreamDown"},
            "annotations": {},
            "starts_at": _at(0),
            "ends_at": None,
            "received_at": _at(0),
            "group_key": None,
            "duplicate_count": 1,
            "seq": 1,
        }
        alerts = [
            {**base, "id": f"{incident_id[:8]}-{n}", "fingerprint": f"fp-{n}"}
            for n in range(50_000)
        ]
        chain.correlate(incident_id, *alerts)
        incident = await_view(
            worker, f"/api/v1/incidents/{incident_id}", lambda b: b["alert_count"] == 50_000
        )
        assert incident["firing_count"] == 50_000 and len(incident["alert_ids"]) == 20
        receiver.wait(lambda n: n["incident_id"] == incident_id)
        for name, reader in changelogs.items():
            largest = max(
                (len(json.dumps(v)) for _, v, _ in reader.matching(lambda k, v: v is not None)),
                default=0,
            )
            assert largest < 16_000, f"{name}: a row of {largest} bytes"
        assert http("GET", f"{worker.url}/api/v1/health").status == 200
    finally:
        for reader in changelogs.values():
            reader.close()


class SlowService:
    """A receiver that holds the first request it gets for ``hold`` seconds."""

    def __init__(self, hold: float) -> None:
        self.posts: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                first = not service.posts
                service.posts.append(body)
                service.arrived.set()
                if first:
                    time.sleep(hold)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture(scope="module")
def slow(
    worker: Worker, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SlowService]:
    """The session worker, restarted with a receiver ``slow`` for the ``crash-*`` tenants."""
    service = SlowService(hold=8.0)
    path = tmp_path_factory.mktemp("slow") / "alertflow.yaml"
    config = {
        "receivers": [{"name": "slow", "type": "webhook", "url": service.url, "timeout": 20}],
        "routes": {
            "receiver": "webhook",
            "routes": [{"matchers": ['tenant=~"crash-.*"'], "receiver": "slow"}],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="NodeDown"'],
                "target_matchers": ['alertname!="NodeDown"'],
                "equal": ["tenant", "node"],
            }
        ],
        "notify": {"tick_interval": "1s", "resend_after": "3s"},
    }
    path.write_text(yaml.safe_dump(config))
    worker.stop()
    worker.env["ALERTFLOW_CONFIG"] = str(path)
    worker.start()
    yield service
    worker.stop()
    del worker.env["ALERTFLOW_CONFIG"]
    worker.start()
    service.server.shutdown()


def test_a_kill_while_a_notification_is_in_flight_sends_it_exactly_once(
    worker: Worker, chain: Chain, sent: TopicReader, slow: SlowService
) -> None:
    tenant, incident_id = unique("crash"), uuid.uuid4().hex
    (alert_id,) = _post(worker, tenant, {"title": "Payments down", "service": "pay"})
    chain.correlate(incident_id, chain.passed(alert_id)[0])
    assert slow.arrived.wait(60), "the first send never reached the service"
    worker.stop(kill=True)  # while the service still holds the request
    worker.start()
    sent.wait(lambda key, value: key == incident_id, timeout=60)
    time.sleep(5)  # longer than resend_after: a second send would have started by now
    records = sent.matching(lambda key, value: key == incident_id)
    assert len(records) == 1, records
    posts = [post for post in slow.posts if post["incident_id"] == incident_id]
    assert 1 <= len(posts) <= 2
    assert {post["notification_id"] for post in posts} == {records[0][1]["notification_id"]}


def test_an_inhibited_alert_is_published_with_its_source_and_pages_nobody(
    worker: Worker, chain: Chain, enriched: TopicReader, receiver: Receiver, slow: SlowService
) -> None:
    tenant, down, disk, other = unique("ns"), *(uuid.uuid4().hex for _ in range(3))
    (source,) = _post(
        worker,
        tenant,
        {
            "title": "n1 down",
            "severity": "critical",
            "labels": {"alertname": "NodeDown", "node": "n1"},
        },
    )
    chain.correlate(down, chain.passed(source)[0])
    receiver.wait(lambda n: n["incident_id"] == down)
    time.sleep(2)  # every worker reads the inhibition source from its changelog
    target, free = _post(
        worker,
        tenant,
        {"title": "disk n1", "labels": {"alertname": "DiskFull", "node": "n1"}},
        {"title": "disk n2", "labels": {"alertname": "DiskFull", "node": "n2"}},
    )
    chain.correlate(disk, chain.passed(target)[0])
    chain.correlate(other, chain.passed(free)[0])
    (_, inhibited, _), *_ = enriched.wait(lambda key, value: key == target)
    assert inhibited["decision"] == "suppress"
    assert f"inhibited by alert {source}" in inhibited["reasons"]
    receiver.wait(lambda n: n["incident_id"] == other)
    assert not [p for p in receiver.posts if p["body"]["incident_id"] == disk]
