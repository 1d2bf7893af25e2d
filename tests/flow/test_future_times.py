"""Event times far in the future (issue G.9) through the session worker: the alert flows with
its receive time and its tenant still correlates. The normalisation itself is unit-tested in
``tests/unit/test_future_times.py``."""

from __future__ import annotations

from app.records import epoch_ms
from tests.harness import TopicReader, Worker, accepted, unique

FUTURE = "9999-12-31T00:00:00Z"


def test_far_future_alert_flows_with_its_receive_time_and_the_tenant_still_correlates(
    worker: Worker, enriched: TopicReader
) -> None:
    tenant = unique("future")
    path = f"/api/v1/alerts?tenant={tenant}"
    (skewed,) = accepted(worker, path, {"title": "clock skew", "starts_at": FUTURE})
    (_, record, timestamp), *_ = enriched.wait(lambda key, value: key == skewed, timeout=90)
    assert record["starts_at"] == record["received_at"]
    assert timestamp == epoch_ms(record["received_at"])  # the Kafka time is not year 9999
    assert any("more than 1 h after" in reason for reason in record["reasons"])
    disks = [
        {"title": f"Disk {n} full", "service": "db", "labels": {"alertname": "D"}} for n in (1, 2)
    ]
    ids = accepted(worker, path, disks)
    found = enriched.wait_keys(ids)
    assert len({value["incident_id"] for _, value, _ in found}) == 1
