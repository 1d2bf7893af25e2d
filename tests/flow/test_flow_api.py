"""The plain JSON API, feedback and the table views, on the real broker."""

from __future__ import annotations

import json

from confluent_kafka import Producer

from tests.harness import Receiver, TopicReader, Worker, accepted, await_view, http, unique


def _post_alerts(worker: Worker, body: object, tenant: str) -> list[str]:
    return accepted(worker, f"/api/v1/alerts?tenant={tenant}", body)


def test_list_of_alerts_gets_ids_in_order_and_all_come_out(
    worker: Worker,
    enriched: TopicReader,
) -> None:
    tenant = unique("api")
    alerts = [
        {
            "title": f"Consumer lag on partition {n} is {lag} messages",
            "service": "billing",
            "severity": "warning",
            "labels": {"partition": str(n)},
        }
        for n, lag in ((3, 1200), (7, 980), (11, 15000))
    ]
    ids = _post_alerts(worker, alerts, tenant)
    assert len(set(ids)) == 3
    records = enriched.wait_keys(ids)
    titles = {value["id"]: value["title"] for _, value, _ in records}
    assert [titles[i] for i in ids] == [a["title"] for a in alerts]
    templates = {value["template_id"] for _, value, _ in records}
    assert len(templates) == 1, "one message shape, one template"
    assert all(value["tenant"] == tenant and value["source"] == "api" for _, value, _ in records)


def test_acknowledge_shows_in_alert_fingerprint_and_feedback_topic(
    worker: Worker,
    enriched: TopicReader,
    feedback_topic: TopicReader,
) -> None:
    tenant = unique("api")
    (alert_id,) = _post_alerts(
        worker, {"title": "Payment gateway timeouts", "service": "pay"}, tenant
    )
    (_, alert, _), *_ = enriched.wait(lambda key, value: key == alert_id)
    await_view(worker, f"/api/v1/alerts/{alert_id}")  # people acknowledge what they can see

    answer = http(
        "POST",
        f"{worker.url}/api/v1/alerts/{alert_id}/acknowledge",
        {"by": "ann", "note": "looking"},
    )
    assert answer.status == 202
    (_, feedback, _), *_ = feedback_topic.wait(lambda key, value: key == alert_id)
    assert feedback["kind"] == "ack" and feedback["actionable"] is True and feedback["by"] == "ann"
    assert feedback["incident_id"] == alert["incident_id"]

    view = await_view(worker, f"/api/v1/alerts/{alert_id}", lambda body: body["acknowledged"])
    assert view["feedback"][0]["note"] == "looking"
    stats = await_view(
        worker,
        f"/api/v1/fingerprints/{alert['fingerprint']}?tenant={tenant}",
        lambda body: body.get("acks") == 1,
    )
    assert stats["actionable"] == 1 and stats["noise"] == 0 and stats["template"]


def test_resolve_incident_as_noise_applies_to_every_alert(
    worker: Worker,
    enriched: TopicReader,
    feedback_topic: TopicReader,
) -> None:
    tenant = unique("api")
    ids = _post_alerts(
        worker,
        [
            {
                "title": "Disk 91% full on web-1",
                "service": "web",
                "labels": {"alertname": "DiskFull", "host": "web-1"},
            },
            {
                "title": "Disk 93% full on web-2",
                "service": "web",
                "labels": {"alertname": "DiskFull", "host": "web-2"},
            },
        ],
        tenant,
    )
    records = enriched.wait_keys(ids)
    incident_ids = {value["incident_id"] for _, value, _ in records}
    assert len(incident_ids) == 1, "same service and alertname within minutes: one incident"
    (incident_id,) = incident_ids
    incident = await_view(
        worker, f"/api/v1/incidents/{incident_id}", lambda b: len(b["alert_ids"]) == 2
    )
    assert incident["tenant"] == tenant and incident["status"] == "firing"

    listed = await_view(worker, f"/api/v1/incidents?tenant={tenant}&status=firing&limit=10")
    assert [i["id"] for i in listed["incidents"]] == [incident_id]

    answer = http(
        "POST", f"{worker.url}/api/v1/incidents/{incident_id}/resolve", {"actionable": False}
    )
    assert answer.status == 202 and set(answer.body["ids"]) == set(ids)
    feedback = feedback_topic.wait(lambda key, value: key in ids, count=2)
    assert {value["kind"] for _, value, _ in feedback} == {"resolve"}
    assert all(value["actionable"] is False for _, value, _ in feedback)


def test_resolved_incident_sends_a_resolved_notification(
    worker: Worker,
    enriched: TopicReader,
    receiver: Receiver,
) -> None:
    tenant = unique("api")
    alert = {
        "title": "Checkout error rate above 5%",
        "service": "checkout",
        "starts_at": "2026-11-23T10:00:00Z",
        "labels": {"alertname": "ErrorRate"},
    }
    (alert_id,) = _post_alerts(worker, alert, tenant)
    (_, firing, _), *_ = enriched.wait(lambda key, value: key == alert_id)
    receiver.wait(lambda n: n["incident_id"] == firing["incident_id"] and n["status"] == "firing")
    (same_id,) = _post_alerts(
        worker, {**alert, "status": "resolved", "ends_at": "2026-11-23T10:05:00Z"}, tenant
    )
    assert same_id == alert_id
    (note, *_) = receiver.wait(
        lambda n: n["incident_id"] == firing["incident_id"] and n["status"] == "resolved"
    )
    assert note["alert_ids"] == [alert_id]


def _feedback(alert_id: str, by: str) -> bytes:
    """An acknowledgement as an outside producer writes it (no incident named)."""
    record = {
        "alert_id": alert_id,
        "kind": "ack",
        "actionable": True,
        "by": by,
        "at": "2026-11-23T10:00:00Z",
    }
    return json.dumps(record).encode()


def test_unparseable_record_on_feedback_topic_goes_to_deadletter_and_the_stage_goes_on(
    worker: Worker,
    bootstrap: str,
    deadletters: TopicReader,
    enriched: TopicReader,
) -> None:
    """``alerts.feedback`` is the topic outsiders write to (``alerts.raw`` is the bridge's
    audit record of what it accepted): what the stage cannot read goes to the dead letters."""
    marker = unique("garbage")
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("alerts.feedback", key=marker.encode(), value=b"{not json " + marker.encode())
    producer.produce(
        "alerts.feedback", key=marker.encode(), value=b'{"alert_id": 7, "kind": "ack"}'
    )
    producer.flush(10)
    letters = deadletters.wait(lambda key, value: key == marker, count=2)
    assert {value["stage"] for _, value, _ in letters} == {"incident_feedback"}
    assert all(value["error"] and value["topic"] == "alerts.feedback" for _, value, _ in letters)
    assert any(marker in str(value["value"]) for _, value, _ in letters)
    (alert_id,) = _post_alerts(worker, {"title": "still flowing"}, unique("api"))
    enriched.wait(lambda key, value: key == alert_id)
    producer.produce("alerts.feedback", key=alert_id.encode(), value=_feedback(alert_id, marker))
    producer.flush(10)
    await_view(worker, f"/api/v1/alerts/{alert_id}", lambda body: body["acknowledged"])


def test_metrics_and_health(worker: Worker, enriched: TopicReader) -> None:
    (alert_id,) = _post_alerts(worker, {"title": "metrics probe"}, unique("api"))
    enriched.wait(lambda key, value: key == alert_id)
    health = http("GET", f"{worker.url}/api/v1/health")
    assert health.status == 200 and health.body["status"] == "ok"
    text = http("GET", f"{worker.url}/metrics", token=None).body.decode()
    for name in (
        'alertflow_alerts_received_total{source="api"}',
        "alertflow_alerts_processed_total",
        "alertflow_alert_processing_duration_seconds_bucket",
        "alertflow_suppressions_total",
        "alertflow_correlations_processed_total",
        "alertflow_notifications_sent_total",
    ):
        assert name in text, name


def test_compressed_feedback_from_other_producers_is_read(
    worker: Worker,
    bootstrap: str,
    enriched: TopicReader,
) -> None:
    """aiokafka's lz4, zstd and snappy codecs are installed (Faust would crash otherwise)."""
    tenant = unique("codec")
    codecs = ("lz4", "zstd", "snappy", "gzip")
    ids = [
        _post_alerts(worker, {"title": f"compressed with {codec}"}, tenant)[0] for codec in codecs
    ]
    for alert_id in ids:
        enriched.wait(lambda key, value, alert_id=alert_id: key == alert_id)
    for codec, alert_id in zip(codecs, ids, strict=True):
        producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec})
        producer.produce("alerts.feedback", key=alert_id.encode(), value=_feedback(alert_id, codec))
        producer.flush(10)
    for codec, alert_id in zip(codecs, ids, strict=True):
        view = await_view(worker, f"/api/v1/alerts/{alert_id}", lambda body: body["acknowledged"])
        assert view["feedback"][0]["by"] == codec
