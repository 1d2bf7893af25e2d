"""What is accepted with 202 is never lost: old event times, large bodies, oversized alerts."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.harness import API_TOKEN, TopicReader, Worker, accepted, eventually, http, unique


def _am_alert(name: str, index: int, starts_at: str, summary: str = "") -> dict[str, object]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "instance": f"host-{index}"},
        "annotations": {"summary": summary or f"{name} on host-{index}"},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
    }


def _webhook(alerts: list[dict[str, object]]) -> dict[str, object]:
    return {"version": "4", "status": "firing", "receiver": "alertflow", "alerts": alerts}


@pytest.mark.integration
def test_alerts_dated_a_year_ago_all_come_out(
    worker: Worker, bootstrap: str, enriched: TopicReader
) -> None:
    """Kafka timestamps are event times; retention must not delete what is not processed yet
    (G.1): the public topics are bounded by size, the inter-stage ones by append time."""
    name = unique("Ancient")
    year_ago = (datetime.now(UTC) - timedelta(days=366)).isoformat().replace("+00:00", "Z")
    ids = accepted(
        worker,
        "/webhooks/alertmanager",
        _webhook([_am_alert(name, n, year_ago) for n in range(200)]),
    )
    enriched.wait_keys(ids, timeout=120)  # fails naming any id that never came out
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for topic, key, value in (
        ("alerts.enriched", "retention.ms", "-1"),
        ("alerts.normalized", "message.timestamp.type", "LogAppendTime"),
    ):
        resource = ConfigResource("topic", topic)
        configs = admin.describe_configs([resource])[resource].result(10)
        assert configs[key].value == value, (topic, key)


@pytest.mark.integration
def test_an_alert_too_large_for_kafka_is_refused_with_413(worker: Worker) -> None:
    """G.2: an alert no Kafka message can carry is 413 at the door, not a 202 that is lost."""
    answer = http("POST", f"{worker.url}/api/v1/alerts", {"title": "x" * 998_000})
    assert answer.status == 413, answer.body
    assert answer.body["error"] == "alert_too_large"


@pytest.mark.integration
def test_a_body_of_several_megabytes_is_accepted_whole(
    worker: Worker, enriched: TopicReader
) -> None:
    """G.3: valid bodies between 1 MB and 16 MiB are carried in several messages, never 500."""
    name = unique("Bulky")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    alerts = [_am_alert(name, n, now, summary=f"{name} " + "y" * 2_000) for n in range(2_500)]
    started = time.monotonic()
    ids = accepted(worker, "/webhooks/alertmanager", _webhook(alerts))
    assert len(ids) == 2_500 and time.monotonic() - started < 60
    enriched.wait_keys(ids, timeout=180)


def _stalled_post(worker: Worker, declared: int) -> socket.socket:
    """An ingest request that declares ``declared`` bytes of body and sends one."""
    sender = socket.create_connection(("127.0.0.1", worker.port))
    sender.sendall(
        f"POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {API_TOKEN}\r\nContent-Length: {declared}\r\n\r\n[".encode()
    )
    return sender


@pytest.mark.integration
def test_bodies_beyond_the_ingest_budget_wait_then_get_503_overloaded(
    worker: Worker, enriched: TopicReader
) -> None:
    """Bodies held at once are bounded (``ALERTFLOW_INGEST_INFLIGHT_MB``, 64 by default): with
    the budget taken, a post waits, then gets 503 with Retry-After and nothing of it is
    accepted; once the room is given back, the same post is accepted and comes out. The
    stalled senders' leaving is no error in the log."""
    logged = worker.log.stat().st_size
    stalled = [_stalled_post(worker, 16 * 1024 * 1024) for _ in range(4)]  # the 64 MB
    alert = {"title": unique("Waited")}
    try:
        time.sleep(0.5)
        started = time.monotonic()
        refused = http("POST", f"{worker.url}/api/v1/alerts", alert)
        waited = time.monotonic() - started
        assert refused.status == 503 and refused.body["error"] == "overloaded", refused.body
        assert refused.headers["Retry-After"] == "1" and 4.5 < waited < 15
    finally:
        for sender in stalled:
            sender.close()  # their handlers fail reading, and give their room back
    (alert_id,) = eventually(
        lambda: (
            (a := http("POST", f"{worker.url}/api/v1/alerts", alert)).status == 202
            and a.body["ids"]
        ),
        30,
        "the post to be accepted once the room is back",
    )
    enriched.wait(lambda key, value: key == alert_id, timeout=60)
    assert worker.process is not None and worker.process.poll() is None
    assert "Error handling request" not in worker.log.read_bytes()[logged:].decode(
        "utf-8", "replace"
    )
