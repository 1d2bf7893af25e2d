"""A merge on the real worker: the merged incident redirects to the one it joined.

Triage writes ``{"kind": "merge", "into", "reason", "at_ms"}`` to ``notify.events`` keyed by the
incident it merges; here the test writes it (and what correlate would write to
``alerts.correlated``, see :mod:`tests.standin`). The merged incident's receivers hear that its
alerts are gone (``resolved``, ``merged_into``); its counts join the other incident; its
later alerts are forwarded there; replays change nothing.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from app.notify.step import VERDICT_WAIT_MS
from tests.harness import Receiver, TopicReader, Worker, await_view, eventually, unique
from tests.standin import Chain, alert


@pytest.fixture(scope="module")
def chain(bootstrap: str, worker: Worker) -> Chain:
    return Chain(bootstrap)


def _merge(into: str, reason: str, tenant: str) -> dict[str, Any]:
    """Triage's decision that an incident joins ``into``, now."""
    at_ms = int(datetime.now(UTC).timestamp() * 1000)
    return {"kind": "merge", "into": into, "reason": reason, "at_ms": at_ms, "tenant": tenant}


def test_a_merged_incident_redirects_to_the_one_it_joined(
    worker: Worker, chain: Chain, enriched: TopicReader, receiver: Receiver
) -> None:
    tenant, old, storm = unique("ns"), uuid.uuid4().hex, uuid.uuid4().hex
    first, second, late = (
        alert(tenant, f"Timeouts upstream {n}", service=f"api-{n}") for n in range(3)
    )
    chain.correlate(old, first)
    chain.correlate(storm, second)
    receiver.wait(lambda n: n["incident_id"] == old)
    receiver.wait(lambda n: n["incident_id"] == storm)

    merge = _merge(storm, "one storm", tenant)
    chain.send("notify.events", old, [merge])
    (gone,) = receiver.wait(lambda n: n["incident_id"] == old and n["status"] == "resolved")
    assert gone["merged_into"] == storm and gone["resolved_alert_ids"] == [first["id"]]
    assert gone["alert_ids"] == [] and gone["alert_count"] == 0
    joined = await_view(worker, f"/api/v1/incidents/{storm}", lambda b: b["alert_count"] == 2)
    assert first["id"] in joined["alert_ids"] and joined["firing_count"] == 2  # its receivers
    assert joined["timeline"][-1]["kind"] == "absorbed"  # hear of it at the next group interval
    again = eventually(lambda: enriched.matching(lambda k, v: k == first["id"])[1:])
    assert again[0][1]["incident_id"] == storm and again[0][1]["merged_from"] == old

    chain.correlate(old, late)  # correlate still puts the group's alerts there
    (_, published, _), *_ = enriched.wait(lambda key, value: key == late["id"])
    assert published["incident_id"] == storm and published["merged_from"] == old
    incident = await_view(worker, f"/api/v1/incidents/{storm}", lambda b: b["alert_count"] == 3)
    assert incident["merged_from"] == [old]
    redirect = await_view(worker, f"/api/v1/incidents/{old}")
    assert redirect["merged_into"] == storm and redirect["status"] == "resolved"
    moved = await_view(worker, f"/api/v1/alerts/{first['id']}")
    assert moved["incident_id"] == storm and moved["merged_from"] == old

    chain.send("notify.events", old, [merge])  # a replayed merge changes nothing
    chain.correlate(old, late)  # nor does a replayed alert (it is published again)
    eventually(lambda: len(enriched.matching(lambda key, value: key == late["id"])) == 2)
    assert await_view(worker, f"/api/v1/incidents/{storm}")["alert_count"] == 3


def test_a_storms_own_incident_taken_by_its_first_minute_never_pages(
    worker: Worker, chain: Chain, enriched: TopicReader, receiver: Receiver
) -> None:
    """A storm detected before its first incident was known opens an incident of its own; when
    that first incident is heard of, triage merges the storm's into it. The storm's incident
    holds its first page for that merge, so its receivers never hear of it."""
    tenant, first, storm = unique("sw"), uuid.uuid4().hex, uuid.uuid4().hex
    early, hinted = (alert(tenant, f"Timeouts upstream {n}", service=f"api-{n}") for n in range(2))
    chain.correlate(first, early)
    receiver.wait(lambda n: n.get("incident_id") == first)
    hint = {"scope": f"tenant {tenant}", "incident_id": storm, "words": "alert storm: 12 new"}
    chain.correlate(storm, {**hinted, "storm": hint})
    enriched.wait(lambda key, value: key == hinted["id"])  # applied: the incident is open
    merge = _merge(first, "the alert storm collapses into its first minute's incident", tenant)
    chain.send("notify.events", storm, [merge])
    await_view(worker, f"/api/v1/incidents/{first}", lambda b: b["alert_count"] == 2)
    time.sleep(VERDICT_WAIT_MS / 1000 + 1)  # past the longest a held page waits
    told = receiver.incidents()
    assert storm not in told and first in told
