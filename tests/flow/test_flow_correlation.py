"""Dedup, fingerprints and correlation on the real broker: re-sends, groupKey, same template,
resolution, and the incident, cluster and fingerprint views."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from app.records import format_time
from tests.harness import TopicReader, Worker, accepted, await_view, eventually, http, unique


def _webhook(group_key: str, alerts: list[dict], status: str = "firing") -> dict:
    return {
        "version": "4",
        "status": status,
        "receiver": "alertflow",
        "groupKey": group_key,
        "groupLabels": {},
        "commonLabels": {},
        "externalURL": "http://am",
        "alerts": alerts,
    }


def _alert(
    name: str, service: str, instance: str, summary: str, starts: datetime, status: str = "firing"
) -> dict:
    alert = {
        "status": status,
        "startsAt": format_time(starts),
        "annotations": {"summary": summary},
        "labels": {"alertname": name, "service": service, "instance": instance},
    }
    if status == "resolved":
        alert["endsAt"] = format_time(starts + timedelta(minutes=10))
    return alert


def _latest(enriched: TopicReader, tenant: str) -> dict[str, dict]:
    """The latest record of each of the tenant's alerts."""
    return {v["id"]: v for _, v, _ in enriched.matching(lambda k, v: v["tenant"] == tenant)}


def _joined(by_id: dict[str, dict], *ids: str) -> bool:
    return all(i in by_id for i in ids) and len({by_id[i]["incident_id"] for i in ids}) == 1


def _post(worker: Worker, body: dict, tenant: str) -> list[str]:
    return accepted(worker, f"/webhooks/alertmanager?tenant={tenant}", body)


def test_a_cascade_becomes_one_incident_and_resolves(worker: Worker, enriched: TopicReader) -> None:
    tenant = unique("corr")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    db = _alert("PostgresDown", "postgres", "pg-1", "Postgres primary pg-1 is down", t0)
    api = _alert(
        "HighLatency", "orders", "o-1", "p99 latency of orders is 900ms", t0 + timedelta(minutes=1)
    )
    web = _alert(
        "Slow", "checkout", "c-1", "p99 latency of checkout is 1500ms", t0 + timedelta(minutes=2)
    )
    ids = _post(worker, _webhook('{}:{alertname="PostgresDown"}', [db]), tenant)
    ids += _post(worker, _webhook('{}:{alertname="PostgresDown"}', [db]), tenant)  # re-send
    ids += _post(worker, _webhook('{}:{service="orders"}', [api]), tenant)
    ids += _post(worker, _webhook('{}:{service="orders"}', [api, web]), tenant)  # groupKey
    assert ids[0] == ids[1] and len(set(ids)) == 3
    # Triage merges one group's incident into the other's: notify publishes the absorbed
    # incident's alerts again, in the incident they joined, saying why (latest record wins).
    by_id = eventually(
        lambda: (b := _latest(enriched, tenant)) and _joined(b, ids[2], ids[4]) and b
    )
    assert set(by_id) == set(ids), "the re-sends were deduplicated"
    reasons = by_id[ids[2]]["reasons"] + by_id[ids[4]]["reasons"]  # either may come first
    assert any("same Alertmanager group" in r or "same template" in r for r in reasons), reasons
    assert by_id[ids[0]]["incident_id"] != by_id[ids[2]]["incident_id"], "nothing learned yet"

    incident = by_id[ids[2]]["incident_id"]
    view = await_view(worker, f"/api/v1/incidents/{incident}", lambda b: b["alert_count"] == 2)
    assert set(view["alert_ids"]) == {ids[2], ids[4]}
    assert set(view["services"]) == {"orders", "checkout"} and view["status"] == "firing"

    resolved = [
        {**a, "status": "resolved", "endsAt": format_time(t0 + timedelta(minutes=9))}
        for a in (api, web)
    ]
    _post(worker, _webhook('{}:{service="orders"}', resolved, "resolved"), tenant)
    view = await_view(worker, f"/api/v1/incidents/{incident}", lambda b: b["status"] == "resolved")
    assert view["alert_count"] == 2

    listing = await_view(
        worker, f"/api/v1/incidents?tenant={tenant}&limit=1", lambda b: b["total"] == 2
    )
    assert len(listing["incidents"]) == 1 and listing["next_offset"] == 1
    second = await_view(worker, f"/api/v1/incidents?tenant={tenant}&limit=1&offset=1")
    assert second["next_offset"] is None
    assert {listing["incidents"][0]["id"], second["incidents"][0]["id"]} == {
        incident,
        by_id[ids[0]]["incident_id"],
    }
    firing = await_view(worker, f"/api/v1/incidents?tenant={tenant}&status=firing&service=postgres")
    assert [i["id"] for i in firing["incidents"]] == [by_id[ids[0]]["incident_id"]]
    assert http("GET", f"{worker.url}/api/v1/incidents?since=yesterday").status == 400

    clusters = await_view(
        worker, f"/api/v1/clusters?tenant={tenant}", lambda b: len(b["clusters"]) == 1
    )
    assert clusters["clusters"][0]["count"] == 2
    assert clusters["clusters"][0]["template"] == "<*> latency of <*> is <*>"

    stats = await_view(
        worker,
        f"/api/v1/fingerprints/{by_id[ids[0]]['fingerprint']}?tenant={tenant}",
        lambda b: b.get("template") is not None,
    )
    assert stats["count"] == 2 and stats["episode_count"] == 2
    assert stats["template"] == "Postgres primary <*> is down"


def test_a_symptom_in_the_same_cluster_joins_and_survives_a_crash(
    worker: Worker, enriched: TopicReader, deadletters: TopicReader
) -> None:
    tenant = unique("near")
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    root = {
        **_alert("PostgresDown", "postgres", "pg-1", "Postgres primary pg-1 is down", t0),
        "labels": {"alertname": "PostgresDown", "service": "postgres", "cluster": "eu-9"},
    }
    symptom = {
        **_alert("Errors", "orders", "o-1", "Orders API errors", t0 + timedelta(seconds=70)),
        "labels": {"alertname": "Errors", "service": "orders", "cluster": "eu-9"},
    }
    (root_id,) = _post(worker, _webhook('{}:{alertname="PostgresDown"}', [root]), tenant)
    (symptom_id,) = _post(worker, _webhook('{}:{alertname="Errors"}', [symptom]), tenant)
    by_id = eventually(
        lambda: (b := _latest(enriched, tenant)) and _joined(b, root_id, symptom_id) and b
    )
    incident = by_id[root_id]["incident_id"]
    # The two alerts travel through different dedup partitions, so either may reach the
    # correlation first; whichever comes second opens an incident of its own, which is merged
    # into the other's, and its alert is published again saying why.
    joins = (
        f"started 70s after the newest alert of incident {incident}, in the same cluster=eu-9",
        f"started 70s before the newest alert of incident {incident}, in the same cluster=eu-9",
    )
    reasons = [*by_id[symptom_id]["reasons"], *by_id[root_id]["reasons"]]
    assert any(join in reason for join in joins for reason in reasons), reasons

    worker.stop(kill=True)  # the incident's rows must come back from the table
    worker.start()
    resolved = {**root, "status": "resolved", "endsAt": format_time(t0 + timedelta(minutes=5))}
    _post(worker, _webhook('{}:{alertname="PostgresDown"}', [resolved], "resolved"), tenant)
    (record,) = enriched.wait(
        lambda key, value: value["tenant"] == tenant and value["status"] == "resolved"
    )
    assert record[1]["incident_id"] == incident
    # correlation counts per group; the incident (notify's) still holds the firing symptom
    assert "resolved; no firing alert of its group is left in its incident" in record[1]["reasons"]
    assert not deadletters.matching(lambda key, value: tenant in json.dumps(value))
