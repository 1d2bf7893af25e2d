"""The whole chain on the real broker, fed with a real Alertmanager 0.25 webhook capture."""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness import Receiver, TopicReader, Worker, accepted, eventually, http, unique

CONTRACT_FIELDS = {
    "id",
    "tenant",
    "source",
    "status",
    "severity",
    "service",
    "title",
    "description",
    "labels",
    "annotations",
    "starts_at",
    "ends_at",
    "received_at",
    "fingerprint",
    "template_id",
    "template",
    "duplicate_count",
    "incident_id",
    "score",
    "decision",
    "reasons",
}


def _post(worker: Worker, body: dict, tenant: str) -> list[str]:
    return accepted(worker, f"/webhooks/alertmanager?tenant={tenant}", body)


def test_firing_group_comes_out_enriched_viewable_and_notified(
    worker: Worker,
    enriched: TopicReader,
    receiver: Receiver,
    fixtures_dir: Path,
) -> None:
    tenant = unique("am")
    body = json.loads((fixtures_dir / "alertmanager" / "am-0.25-firing-2-alerts.json").read_text())
    ids = _post(worker, body, tenant)
    assert len(ids) == 2 and len(set(ids)) == 2

    records = enriched.wait_keys(ids)
    by_id = {value["id"]: value for _, value, _ in records}
    first = by_id[ids[0]]
    assert set(first) >= CONTRACT_FIELDS
    assert first["fingerprint"] == "1560ad22a2dfb891"  # Alertmanager's own
    assert first["tenant"] == tenant and first["source"] == "alertmanager"
    assert first["status"] == "firing" and first["severity"] == "critical"
    assert first["title"] == "disk full on db1" and first["labels"]["instance"] == "db1"
    assert first["template"] and first["template_id"]
    assert first["duplicate_count"] == 1 and first["decision"] == "notify"
    assert 0.0 <= first["score"] <= 1.0 and first["reasons"]
    # One Alertmanager group is one incident (groupKey is respected).
    assert by_id[ids[1]]["incident_id"] == first["incident_id"]
    # Kafka message time is the alert's event time (startsAt).
    timestamps = {value["id"]: ts for _, value, ts in records}
    assert timestamps[ids[0]] == 1795416964436

    view = eventually(
        lambda: (a := http("GET", f"{worker.url}/api/v1/alerts/{ids[0]}")).status == 200 and a
    )
    assert view.body["id"] == ids[0] and view.body["incident_id"] == first["incident_id"]

    incident = eventually(
        lambda: (
            (i := http("GET", f"{worker.url}/api/v1/incidents/{first['incident_id']}")).status
            == 200
            and len(i.body["alert_ids"]) == 2
            and i
        )
    )
    assert set(incident.body["alert_ids"]) == set(ids) and incident.body["status"] == "firing"

    (note, *_) = receiver.wait(lambda n: n.get("incident_id") == first["incident_id"])
    assert note["status"] == "firing" and note["tenant"] == tenant, note
    assert set(note) >= {
        "incident_id",
        "tenant",
        "status",
        "title",
        "severity",
        "score",
        "alert_ids",
        "alert_count",
        "first_seen",
        "last_seen",
        "reasons",
        "url",
    }
    assert note["url"].endswith(f"/api/v1/incidents/{first['incident_id']}")


def test_resend_is_counted_not_repeated_and_resolve_keeps_the_id(
    worker: Worker,
    enriched: TopicReader,
    receiver: Receiver,
    fixtures_dir: Path,
) -> None:
    tenant = unique("am")
    firing = json.loads(
        (fixtures_dir / "alertmanager" / "am-0.25-firing-2-alerts.json").read_text()
    )
    resolved = json.loads((fixtures_dir / "alertmanager" / "am-0.25-resolved.json").read_text())
    ids = _post(worker, firing, tenant)
    assert _post(worker, firing, tenant) == ids  # a re-send: same episode, same ids
    resolved_ids = _post(worker, resolved, tenant)
    resolved_alert = next(a for a in resolved["alerts"] if a["status"] == "resolved")
    position = [a["fingerprint"] for a in firing["alerts"]].index(resolved_alert["fingerprint"])
    resolved_id = resolved_ids[[a["status"] for a in resolved["alerts"]].index("resolved")]
    assert resolved_id == ids[position]

    enriched.wait(lambda key, value: key in ids and value["status"] == "firing", count=2)
    enriched.wait(lambda key, value: key == resolved_id and value["status"] == "resolved")
    firing_copies = enriched.matching(lambda key, value: key in ids and value["status"] == "firing")
    assert len(firing_copies) == 2, "the re-send must not reach alerts.enriched again"
    resolved_record = enriched.matching(
        lambda key, value: key == resolved_id and value["status"] == "resolved"
    )
    assert resolved_record[0][1]["duplicate_count"] >= 2

    fingerprint = resolved_alert["fingerprint"]
    stats = eventually(
        lambda: (
            (
                s := http("GET", f"{worker.url}/api/v1/fingerprints/{fingerprint}?tenant={tenant}")
            ).status
            == 200
            and s.body["count"] >= 3
            and s
        )
    )
    assert stats.body["status"] == "resolved" and stats.body["template"]
