"""Bounded notification log on the real worker: a resolved incident's entries go in event time.

The alert is three days old in event time, so once the partition's clock has reached the wall
clock (the worker's ticks) its incident is past ``repeat_interval`` (unset) plus a day: the
log entries of its ``firing`` and ``resolved`` notifications are deleted, which the table's
changelog shows as tombstones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.harness import Receiver, TopicReader, Worker, eventually, http, unique

CHANGELOG = "alertflow-nflog-changelog"


def _at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_log_entries_of_an_incident_resolved_long_ago_are_pruned(
    worker: Worker, bootstrap: str, receiver: Receiver
) -> None:
    changelog = TopicReader(bootstrap, CHANGELOG)
    try:
        tenant = unique("prune")
        started = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
        alert = {"title": "Old disk alarm", "service": "disk", "starts_at": _at(started)}
        url = f"{worker.url}/api/v1/alerts?tenant={tenant}"
        assert http("POST", url, alert).status == 202
        (paged,) = receiver.wait(lambda n: n["tenant"] == tenant and n["status"] == "firing")
        incident_id = paged["incident_id"]
        resolve = {**alert, "status": "resolved", "ends_at": _at(started + timedelta(minutes=1))}
        assert http("POST", url, resolve).status == 202
        receiver.wait(lambda n: n["incident_id"] == incident_id and n["status"] == "resolved")

        keys = {f"{incident_id}|webhook|firing", f"{incident_id}|webhook|resolved"}
        tombstones = lambda: changelog.matching(lambda key, value: value is None)  # noqa: E731
        eventually(
            lambda: keys <= {key for key, _, _ in tombstones()}, 45, "tombstones of both entries"
        )
        incident = http("GET", f"{worker.url}/api/v1/incidents/{incident_id}").body
        assert incident["status"] == "resolved"  # the incident itself stays queryable
    finally:
        changelog.close()
