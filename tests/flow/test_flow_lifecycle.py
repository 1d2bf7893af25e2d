"""The incident lifecycle through the HTTP API, on the real broker (issue H, item 4): a
person's resolve closes the incident and sends ``resolved`` once; the next firing alert of the
group opens a new incident; the incident shows who acknowledged and resolved it, and when."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.harness import Receiver, TopicReader, Worker, accepted, await_view, http, unique

pytestmark = pytest.mark.integration


def open_incident(
    worker: Worker, enriched: TopicReader, receiver: Receiver, tenant: str, **alert: Any
) -> tuple[str, str]:
    """Post a firing alert; wait until its incident paged the session receiver."""
    body = {"title": "Payments API errors", "service": "payments", "severity": "critical", **alert}
    (alert_id,) = accepted(worker, f"/api/v1/alerts?tenant={tenant}", body)
    ((_, value, _),) = enriched.wait(lambda key, _: key == alert_id)
    incident_id = value["incident_id"]
    receiver.wait(lambda b: b.get("incident_id") == incident_id and b.get("change") == "firing")
    return alert_id, incident_id


def notifications(receiver: Receiver, incident_id: str, change: str) -> list[dict[str, Any]]:
    return [
        post["body"]
        for post in receiver.posts
        if post["body"]
        and post["body"].get("incident_id") == incident_id
        and post["body"].get("change") == change
    ]


def test_the_incident_view_says_who_acknowledged_it_and_when(
    worker: Worker, enriched: TopicReader, receiver: Receiver
) -> None:
    _, incident_id = open_incident(worker, enriched, receiver, unique("lc-ack"))
    answer = http("POST", f"{worker.url}/api/v1/incidents/{incident_id}/acknowledge", {"by": "ann"})
    assert answer.status == 202
    view = await_view(  # the delivery's result may be written after the acknowledgement
        worker,
        f"/api/v1/incidents/{incident_id}",
        lambda v: (
            v["acknowledged_by"] == "ann" and any(e["kind"] == "notified" for e in v["timeline"])
        ),
    )
    assert view["acknowledged_at"] is not None and view["resolved_by"] is None
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds[0] == "opened" and "acknowledged" in kinds
    notified = [e for e in view["timeline"] if e["kind"] == "notified"]
    assert {"receiver": "webhook", "detail": "firing"}.items() <= notified[0].items()


def test_resolving_an_incident_closes_it_and_sends_the_resolved_notification_once(
    worker: Worker, enriched: TopicReader, receiver: Receiver
) -> None:
    _, incident_id = open_incident(worker, enriched, receiver, unique("lc-resolve"))
    url = f"{worker.url}/api/v1/incidents/{incident_id}/resolve"
    assert http("POST", url, {"by": "ann"}).status == 202
    view = await_view(
        worker, f"/api/v1/incidents/{incident_id}", lambda v: v["status"] == "resolved"
    )
    assert view["resolved_by"] == "ann" and view["resolved_at"] is not None
    kinds = [entry["kind"] for entry in view["timeline"]]
    assert kinds.index("closed") < kinds.index("resolved")  # the resolved notification may follow
    receiver.wait(lambda b: b.get("incident_id") == incident_id and b.get("change") == "resolved")
    assert http("POST", url, {"by": "bob"}).status == 202  # a second resolve changes nothing
    time.sleep(3)
    assert len(notifications(receiver, incident_id, "resolved")) == 1


def test_a_later_firing_alert_of_the_group_opens_a_new_incident(
    worker: Worker, enriched: TopicReader, receiver: Receiver
) -> None:
    tenant = unique("lc-reopen")
    _, incident_id = open_incident(worker, enriched, receiver, tenant)
    assert (
        http("POST", f"{worker.url}/api/v1/incidents/{incident_id}/resolve", {"by": "ann"}).status
        == 202
    )
    await_view(worker, f"/api/v1/incidents/{incident_id}", lambda v: v["status"] == "resolved")
    # Another firing alert of the same group (tenant, service, alertname) a moment later.
    (later,) = accepted(
        worker,
        f"/api/v1/alerts?tenant={tenant}",
        {"title": "Payments API errors", "service": "payments", "labels": {"pod": "p-2"}},
    )
    ((_, value, _),) = enriched.wait(lambda key, _: key == later)
    assert value["incident_id"] != incident_id
    receiver.wait(lambda b: b.get("incident_id") == value["incident_id"])
