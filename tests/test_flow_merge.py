"""A storm merge on the real worker: the old incident lets go of the merged alert and resolves.

The scored records are written straight to ``alerts.scored`` (what the score stage would write
after correlate merged an incident into a storm), so the test needs no storm of 60 alerts.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from tests.harness import Receiver, Worker, eventually, http, unique


def _scored(alert_id: str, incident_id: str, tenant: str, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "id": alert_id,
        "tenant": tenant,
        "source": "api",
        "status": "firing",
        "severity": "warning",
        "service": "api",
        "title": "Upstream timeouts",
        "description": "",
        "labels": {"alertname": "Timeouts"},
        "annotations": {},
        "starts_at": now,
        "ends_at": None,
        "received_at": now,
        "fingerprint": alert_id,
        "group_key": None,
        "template_id": "t1",
        "template": "Upstream timeouts",
        "duplicate_count": 0,
        "incident_id": incident_id,
        "incident_open": True,
        "score": 0.9,
        "decision": "notify",
        "reasons": ["test"],
        **extra,
    }


def _produce(bootstrap: str, record: dict[str, Any]) -> None:
    # murmur2, as Kafka clients and Faust partition keys: the incident is in its partition
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    producer.produce("alerts.scored", key=record["incident_id"], value=json.dumps(record))
    assert producer.flush(10) == 0


def test_merged_alert_leaves_its_old_incident_which_resolves(
    worker: Worker, bootstrap: str, receiver: Receiver
) -> None:
    tenant, old, storm = unique("merge"), uuid.uuid4().hex, uuid.uuid4().hex
    alert_id = uuid.uuid4().hex
    _produce(bootstrap, _scored(alert_id, old, tenant))
    (paged,) = receiver.wait(lambda n: n["incident_id"] == old)
    assert paged["status"] == "firing" and paged["alert_ids"] == [alert_id]

    _produce(bootstrap, _scored(alert_id, storm, tenant, merged_from=old))
    (resolved,) = receiver.wait(lambda n: n["incident_id"] == old and n["status"] == "resolved")
    assert resolved["resolved_alert_ids"] == [alert_id] and resolved["alert_ids"] == []
    assert resolved["merged_into"] == {alert_id: storm}
    receiver.wait(lambda n: n["incident_id"] == storm and n["alert_ids"] == [alert_id])
    view = eventually(
        lambda: (a := http("GET", f"{worker.url}/api/v1/incidents/{old}")).status == 200 and a,
        what="the old incident's view",
    )
    assert view.body["status"] == "resolved" and view.body["alert_ids"] == []
