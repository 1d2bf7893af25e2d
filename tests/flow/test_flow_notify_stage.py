"""The notify stage on the real broker, fed as correlate and triage would feed it.

Most tests write their alerts straight to ``alerts.correlated`` with the incidents they choose
(:mod:`tests.standin`: alerts the worker's own triage and correlate never see). Those that need
dedup's rows — ids that joined an episode, fingerprint statistics — and the features triage
scores with go through the bridge and the whole chain.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer

from app.records import format_time
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
from tests.standin import Chain, alert, items


@pytest.fixture(scope="module")
def chain(bootstrap: str, worker: Worker) -> Chain:
    return Chain(bootstrap)


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


def _latest(enriched: TopicReader, alert_id: str) -> dict[str, Any]:
    return enriched.wait(lambda key, value: key == alert_id)[-1][1]


def test_alerts_are_published_paged_and_viewable(
    worker: Worker, chain: Chain, enriched: TopicReader, receiver: Receiver
) -> None:
    tenant, incident_id = unique("ns"), uuid.uuid4().hex
    alerts = [alert(tenant, f"DiskFull on db-{n}", service="db") for n in (1, 2)]
    ids = [a["id"] for a in alerts]
    chain.correlate(incident_id, *alerts)

    records = enriched.wait_keys(ids)
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
    assert [e["kind"] for e in incident["timeline"]][:2] == ["opened", "firing"]
    listed = await_view(worker, f"/api/v1/incidents?tenant={tenant}")
    assert [i["id"] for i in listed["incidents"]] == [incident_id]
    assert http("GET", f"{worker.url}/api/v1/alerts/{uuid.uuid4().hex}").status == 404


def test_an_id_that_joined_an_episode_answers_the_alert_it_joined(
    worker: Worker, enriched: TopicReader
) -> None:
    tenant = unique("ns")
    first = {"title": "Disk full on db-1", "service": "db", "labels": {"alertname": "DiskFull"}}
    (alert_id,) = _post(worker, tenant, {**first, "starts_at": format_time(datetime.now(UTC))})
    _latest(enriched, alert_id)  # through the whole chain
    (again,) = _post(worker, tenant, first)  # another start, the same fingerprint: it joins
    assert again != alert_id
    joined = await_view(worker, f"/api/v1/alerts/{again}")
    assert (joined["id"], joined["requested_id"], joined["joined"]) == (alert_id, again, alert_id)


def test_acknowledge_labels_and_resolving_the_incident_closes_it_once(
    worker: Worker,
    enriched: TopicReader,
    receiver: Receiver,
    feedback_topic: TopicReader,
    examples: TopicReader,
) -> None:
    tenant = unique("ns")
    ids = _post(
        worker,
        tenant,
        *(
            {"title": f"Queue {n} backing up", "service": "mq", "labels": {"alertname": "Backlog"}}
            for n in (1, 2)
        ),
    )
    first = _latest(enriched, ids[0])
    incident_id = first["incident_id"]
    eventually(lambda: _latest(enriched, ids[1])["incident_id"] == incident_id)
    receiver.wait(lambda n: n["incident_id"] == incident_id)
    await_view(worker, f"/api/v1/incidents/{incident_id}", lambda b: b["alert_count"] == 2)

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
    assert stats["actionable"] == 1 and stats["template"] == first["template"]

    done = http(
        "POST",
        f"{worker.url}/api/v1/incidents/{incident_id}/resolve",
        {"by": "bob", "actionable": False},
    )
    assert done.status == 202 and sorted(done.body["ids"]) == sorted(ids)
    receiver.wait(lambda n: n["incident_id"] == incident_id and n["status"] == "resolved")
    incident = await_view(
        worker, f"/api/v1/incidents/{incident_id}", lambda b: b["status"] == "resolved"
    )
    assert incident["resolved_by"] == "bob" and incident["acknowledged_by"] == "ann"
    assert any(entry["kind"] == "closed" for entry in incident["timeline"])
    eventually(lambda: [e for e in _learned(examples, ids[1]) if e["label"] is False])
    time.sleep(2)  # ticks come every second: nothing more is owed
    notes = [p["body"] for p in receiver.posts if p["body"]["incident_id"] == incident_id]
    assert [n["status"] for n in notes].count("resolved") == 1


def test_feedback_written_without_its_incident_still_acts(
    worker: Worker, bootstrap: str, chain: Chain, receiver: Receiver
) -> None:
    tenant, incident_id = unique("ns"), uuid.uuid4().hex
    firing = alert(tenant, "CacheMisses high", service="cache")
    chain.correlate(incident_id, firing)
    receiver.wait(lambda n: n["incident_id"] == incident_id)
    record = {
        "alert_id": firing["id"],
        "kind": "ack",
        "actionable": True,
        "by": "outsider",
        "at": format_time(datetime.now(UTC)),
    }
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("alerts.feedback", key=firing["id"].encode(), value=json.dumps(record))
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
    body = {"matchers": [f"tenant={tenant}", "service=db"], "ends_at": "2099-01-01T00:00:00Z"}
    created = http("POST", f"{worker.url}/api/v1/silences", {**body, "comment": "migration"})
    assert created.status == 202, created.body
    eventually(
        lambda: http("GET", f"{worker.url}/api/v1/silences/{created.body['id']}").status == 200
    )
    quiet = alert(tenant, "ReplicationLag high", service="db")  # starting now: silenced
    heard = alert(tenant, "QueueDepth high", service="mq")
    chain.correlate(muted, quiet)
    chain.correlate(loud, heard)
    published = _latest(enriched, quiet["id"])
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
    alerts = [alert(tenant, f"Spread {n}", service=f"s{n}") for n in range(8)]
    ids = [a["id"] for a in alerts]
    incidents = [uuid.uuid4().hex for _ in alerts]
    for firing, incident_id in zip(alerts, incidents, strict=True):
        chain.correlate(incident_id, firing)
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


def test_alerts_written_as_a_second_worker_comes_and_goes_all_reach_their_incidents(
    worker: Worker, chain: Chain, tmp_path: Any
) -> None:
    """Alerts keep coming through two rebalances (a second worker joins, then leaves): none of
    them is skipped (``app/kafka_resume.py``)."""
    tenant = unique("rebalance")
    incidents = [uuid.uuid4().hex for _ in range(8)]  # over every partition of the stage
    written = dict.fromkeys(incidents, 0)
    writing = threading.Event()

    def write() -> None:  # a batch message of 400 alerts every 50 ms or so, round the incidents
        while writing.is_set():
            incident_id = incidents[sum(written.values()) // 400 % len(incidents)]
            chain.correlate(incident_id, *(alert(tenant, "LinkFlapping") for _ in range(400)))
            written[incident_id] += 400
            time.sleep(0.05)

    second = Worker(worker.bootstrap, tmp_path / "second", env={**worker.env})
    writer = threading.Thread(target=write, daemon=True)
    writing.set()
    writer.start()
    try:
        second.start()
        eventually(
            lambda: http("GET", f"{second.url}/api/v1/health").body.get("partitions", 0) > 0,
            90,
            "the second worker to own partitions",
        )
    finally:
        second.stop()
        time.sleep(6)  # the rebalance after the second worker's leaving, alerts still coming
        writing.clear()
        writer.join(timeout=60)
    assert not writer.is_alive() and min(written.values()) > 0
    for incident_id, count in written.items():
        eventually(lambda i=incident_id, c=count: _counted(worker, i, c), 120, f"{count} alerts")


def test_a_storm_of_50000_alerts_in_one_incident_keeps_every_row_small(
    worker: Worker, bootstrap: str, chain: Chain, receiver: Receiver
) -> None:
    tenant, incident_id = unique("storm"), uuid.uuid4().hex
    changelogs = {
        name: TopicReader(bootstrap, f"alertflow-{name}-changelog")
        for name in ("incidents", "members", "nflog", "timers")
    }
    try:
        base = alert(tenant, "UpstreamDown on the edge", service="edge")
        alerts = [
            {**base, "id": f"{incident_id[:8]}-{n}", "fingerprint": f"fp-{n}"}
            for n in range(50_000)
        ]
        chain.correlate(incident_id, *alerts)
        incident = eventually(lambda: _counted(worker, incident_id, 50_000), 180, "the storm")
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


def _counted(worker: Worker, incident_id: str, count: int) -> dict[str, Any] | None:
    """The incident once it counts ``count`` alerts (``None`` before, or while the busy worker
    takes longer than a request may)."""
    try:
        found = http("GET", f"{worker.url}/api/v1/incidents/{incident_id}")
    except OSError:
        return None
    return found.body if found.status == 200 and found.body["alert_count"] == count else None


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
    """The session worker, restarted with a receiver ``slow`` for the ``crash-*`` tenants and
    an inhibition rule."""
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
    chain.correlate(incident_id, alert(tenant, "PaymentsDown everywhere", service="pay"))
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
    source = alert(tenant, "NodeDown n1", labels={"alertname": "NodeDown", "node": "n1"})
    chain.correlate(down, source)
    receiver.wait(lambda n: n["incident_id"] == down)
    time.sleep(2)  # every worker reads the inhibition source from its changelog
    target = alert(tenant, "DiskFull n1", labels={"alertname": "DiskFull", "node": "n1"})
    free = alert(tenant, "DiskFull n2", labels={"alertname": "DiskFull", "node": "n2"})
    chain.correlate(disk, target)
    chain.correlate(other, free)
    inhibited = _latest(enriched, target["id"])
    assert inhibited["decision"] == "suppress"
    assert f"inhibited by alert {source['id']}" in inhibited["reasons"]
    receiver.wait(lambda n: n["incident_id"] == other)
    assert not [p for p in receiver.posts if p["body"]["incident_id"] == disk]
