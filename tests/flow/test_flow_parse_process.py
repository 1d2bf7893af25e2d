"""A large body, parsed and written to Kafka by a parse process (app.parse_pool), on the real
broker: every alert comes out once, the request is on the audit topic, the metrics count it."""

from __future__ import annotations

import re

import orjson

from app.parse_pool import POOL_BYTES
from tests.harness import TopicReader, Worker, accepted, eventually, http, unique

ALERTS = 300
RECEIVED = re.compile(r'^alertflow_alerts_received_total\{source="alertmanager"\} (\S+)$', re.M)


def _received(worker: Worker) -> float:
    text = http("GET", f"{worker.url}/metrics", token=None).body.decode()
    found = RECEIVED.search(text)
    return float(found.group(1)) if found else 0.0


def test_a_large_webhook_is_written_by_its_parse_process(
    worker: Worker, enriched: TopicReader, raw_topic: TopicReader
) -> None:
    tenant = unique("pool")
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "QueueFull", "queue": f"q{i}", "padding": "p" * 150},
            "annotations": {"summary": f"queue q{i} is full"},
            "startsAt": "2026-12-05T00:00:00Z",
        }
        for i in range(ALERTS)
    ]
    body = {"version": "4", "status": "firing", "receiver": "alertflow", "alerts": alerts}
    assert len(orjson.dumps(body)) >= POOL_BYTES  # so a parse process takes it
    before = _received(worker)

    ids = accepted(worker, f"/webhooks/alertmanager?tenant={tenant}", body)

    assert len(ids) == ALERTS == len(set(ids))
    assert _received(worker) - before >= ALERTS  # counted although the worker did not write it
    eventually(
        lambda: (
            {v["id"] for _, v, _ in enriched.matching(lambda _, v: v.get("tenant") == tenant)}
            == set(ids)
        ),
        60,
        "every alert enriched",
    )
    raws = raw_topic.wait(lambda _, value: value.get("tenant") == tenant)
    assert sum(len(value["alerts"]) for _, value, _ in raws) == ALERTS
