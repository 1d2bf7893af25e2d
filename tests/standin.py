"""Stand-ins for what comes before notify's incidents: placed alerts, chosen by the test.

The alerts are made here (ids and fingerprints of their own, ``seq`` 1), not sent through the
bridge, so the worker's own triage and correlation never see them: the test says which incident
each goes to and writes it to ``alerts.correlated`` as correlation does for an incident homed in
another partition (a batch message keyed by the incident id, in its partition), and merges to
``notify.events`` as triage would.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Producer

from app.records import format_time
from app.runtime.partitions import partition_of

PARTITIONS = 4


class Chain:
    """Writes what triage and correlation would: placed alerts, merges."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})

    def correlate(self, incident_id: str, *alerts: dict[str, Any], **fields: Any) -> None:
        """Write ``alerts`` into ``incident_id`` (with triage's fields, ``fields`` over them)."""
        self.send(
            "alerts.correlated", incident_id, [triaged(a, incident_id, **fields) for a in alerts]
        )

    def send(self, topic: str, key: str, values: list[dict[str, Any]]) -> None:
        """Batch messages of ``values`` keyed ``key``, in the key's partition."""
        for start in range(0, len(values), 400):
            batch = {"batch": [[key, value] for value in values[start : start + 400]]}
            self.producer.produce(
                topic, value=json.dumps(batch).encode(), partition=partition_of(key, PARTITIONS)
            )
        assert self.producer.flush(30) == 0


def alert(tenant: str, title: str, **fields: Any) -> dict[str, Any]:
    """A firing alert as dedup passes it on (its own id and fingerprint, ``seq`` 1, now)."""
    now = format_time(datetime.now(UTC))
    made = {
        "id": uuid.uuid4().hex[:20],
        "tenant": tenant,
        "source": "api",
        "status": "firing",
        "severity": "warning",
        "severity_original": None,
        "service": "svc",
        "title": title,
        "description": "",
        "labels": {"alertname": title.split()[0]},
        "annotations": {},
        "starts_at": now,
        "ends_at": None,
        "received_at": now,
        "fingerprint": uuid.uuid4().hex[:16],
        "group_key": None,
        "duplicate_count": 1,
        "reasons": [],
        "seq": 1,
    }
    return {**made, **fields}


def resolved(firing: dict[str, Any], after: timedelta = timedelta(minutes=1)) -> dict[str, Any]:
    """The same alert resolved ``after`` its start (dedup's next record of it)."""
    ends = datetime.fromisoformat(firing["starts_at"]) + after
    return {**firing, "status": "resolved", "ends_at": format_time(ends), "seq": firing["seq"] + 1}


def items(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """The records of a batch message."""
    if isinstance(value, dict) and isinstance(value.get("batch"), list):
        return [(key, record) for key, record in value["batch"]]
    return []


def triaged(alert: dict[str, Any], incident_id: str, **fields: Any) -> dict[str, Any]:
    """``alert`` with what triage and correlation add."""
    return {
        **alert,
        "template_id": alert.get("template_id") or "tpl-1",
        "template": alert.get("template") or alert["title"],
        "route": "root",
        "routes": ["root"],
        "group": f"{alert['tenant']}|root",
        "config_version": "test",
        "score": 0.9,
        "decision": "notify",
        "reasons": [*alert.get("reasons", []), "stand-in triage: it pages"],
        "features": {"kind": alert["labels"].get("alertname", "x"), "severity": alert["severity"]},
        "incident_id": incident_id,
        "incident_open": True,
        **fields,
    }
