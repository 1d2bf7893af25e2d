"""A merge on the real worker: the merged incident redirects to the one it joined.

Triage writes ``{"kind": "merge", "into", "reason", "at_ms"}`` to ``notify.events`` keyed by the
incident it merges; here the test writes it (and what correlate would write to
``alerts.correlated``, see :mod:`tests.standin`). The merged incident's receivers hear that its
alerts are gone (``resolved``, ``merged_into``); its counts join the other incident; its
later alerts are forwarded there; replays change nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.harness import Receiver, TopicReader, Worker, accepted, await_view, eventually, unique
from tests.standin import Chain


@pytest.fixture(scope="module")
def chain(bootstrap: str, worker: Worker) -> Iterator[Chain]:
    standin = Chain(bootstrap)
    yield standin
    standin.close()


def _post(worker: Worker, tenant: str, *alerts: dict[str, Any]) -> list[str]:
    return accepted(worker, f"/api/v1/alerts?tenant={tenant}", list(alerts))


def test_a_merged_incident_redirects_to_the_one_it_joined(
    worker: Worker, chain: Chain, enriched: TopicReader, receiver: Receiver
) -> None:
    tenant, old, storm = unique("ns"), uuid.uuid4().hex, uuid.uuid4().hex
    ids = _post(
        worker,
        tenant,
        *(
            {
                "title": f"Upstream timeouts {n}",
                "service": f"api-{n}",
                "labels": {"alertname": "Timeouts", "n": str(n)},
            }
            for n in range(3)
        ),
    )
    chain.correlate(old, chain.passed(ids[0])[0])
    chain.correlate(storm, chain.passed(ids[1])[0])
    receiver.wait(lambda n: n["incident_id"] == old)
    receiver.wait(lambda n: n["incident_id"] == storm)

    merge = {
        "kind": "merge",
        "into": storm,
        "reason": "one storm",
        "at_ms": int(datetime.now(UTC).timestamp() * 1000),
    }
    chain.send("notify.events", old, [merge])
    (gone,) = receiver.wait(lambda n: n["incident_id"] == old and n["status"] == "resolved")
    assert gone["merged_into"] == storm and gone["resolved_alert_ids"] == [ids[0]]
    assert gone["alert_ids"] == [] and gone["alert_count"] == 0
    joined = await_view(worker, f"/api/v1/incidents/{storm}", lambda b: b["alert_count"] == 2)
    assert ids[0] in joined["alert_ids"] and joined["firing_count"] == 2  # its receivers hear
    assert joined["timeline"][-1]["what"] == "absorbed"  # of it at the next group interval

    chain.correlate(old, chain.passed(ids[2])[0])  # correlate still puts the group's alerts there
    (_, late, _), *_ = enriched.wait(lambda key, value: key == ids[2])
    assert late["incident_id"] == storm and late["merged_from"] == old
    incident = await_view(worker, f"/api/v1/incidents/{storm}", lambda b: b["alert_count"] == 3)
    assert incident["merged_from"] == [old]
    redirect = await_view(worker, f"/api/v1/incidents/{old}")
    assert redirect["merged_into"] == storm and redirect["status"] == "resolved"
    moved = await_view(worker, f"/api/v1/alerts/{ids[0]}", lambda b: b["incident_id"] == storm)
    assert moved["merged_from"] == old

    chain.send("notify.events", old, [merge])  # a replayed merge changes nothing
    chain.correlate(old, chain.passed(ids[2])[0])  # nor does a replayed alert
    eventually(lambda: len(enriched.matching(lambda key, value: key == ids[2])) == 2)
    assert await_view(worker, f"/api/v1/incidents/{storm}")["alert_count"] == 3
