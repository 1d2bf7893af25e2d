"""What is accepted with 202 is never lost: old event times, large bodies, oversized alerts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from tests.harness import TopicReader, Worker, accepted, http, unique


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
    arrived = enriched.wait(lambda _k, v: v and v["id"] in set(ids), count=200, timeout=120)
    assert {value["id"] for _, value, _ in arrived} == set(ids)
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
    arrived = enriched.wait(lambda _k, v: v and v["id"] in set(ids), count=2_500, timeout=180)
    assert len({value["id"] for _, value, _ in arrived}) == 2_500
