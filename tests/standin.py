"""Stand-ins for stages a test does not run: triage and correlate, from dedup's records."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import Producer

from app.runtime.partitions import partition_of
from tests.harness import TopicReader, eventually

PARTITIONS = 4


class Chain:
    """Stands in for triage and correlate: dedup's records, correlated into chosen incidents."""

    def __init__(self, bootstrap: str) -> None:
        self.deduped = TopicReader(bootstrap, "alerts.deduped")
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})

    def passed(self, alert_id: str, count: int = 1) -> list[dict[str, Any]]:
        """The records dedup passed on for ``alert_id`` (oldest first)."""

        def found() -> list[dict[str, Any]]:
            records = self.deduped.matching(lambda key, value: True)
            passed = [record for _, value, _ in records for _, record in items(value)]
            return [record for record in passed if record["id"] == alert_id]

        return eventually(lambda: len(got := found()) >= count and got, 30, f"{alert_id} deduped")

    def correlate(self, incident_id: str, *alerts: dict[str, Any], **fields: Any) -> None:
        """Write ``alerts`` (as triage and correlate would send them) into ``incident_id``."""
        self.send(
            "alerts.correlated", incident_id, [triaged(a, incident_id, **fields) for a in alerts]
        )

    def send(self, topic: str, key: str, values: list[dict[str, Any]]) -> None:
        """One batch message of ``values`` keyed ``key``, in the key's partition."""
        for start in range(0, len(values), 400):
            batch = {"batch": [[key, value] for value in values[start : start + 400]]}
            self.producer.produce(
                topic, value=json.dumps(batch).encode(), partition=partition_of(key, PARTITIONS)
            )
        assert self.producer.flush(30) == 0

    def close(self) -> None:
        self.deduped.close()


def items(value: Any) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict) and isinstance(value.get("batch"), list):
        return [(key, record) for key, record in value["batch"]]
    return []


def triaged(alert: dict[str, Any], incident_id: str, **fields: Any) -> dict[str, Any]:
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
