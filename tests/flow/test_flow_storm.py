"""A storm cannot kill the worker: a million alerts of one tenant, 50,000 in one incident.

Every row of every table stays under ``MAX_ROW_BYTES`` however many alerts an incident or a
tenant has (issue F: a row that grew with its alerts once outgrew Kafka's 1 MB message and
crashed the worker for good). Measured on the changelogs, where every row written goes.

On a broker and worker of its own: a worker that joins the session's broker later would
restore these changelogs first (minutes on a slow machine).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from tests.harness import API_TOKEN, TopicReader, Worker, await_view, http, reading, running, unique

MAX_ROW_BYTES = 64 * 1024  # the bound README states for any row of any table
DISTINCT = 50_000  # alerts of the one incident
SENDS = 20  # Alertmanager notifies the group this often: 1,000,000 alerts in all
GROUP = 1_000  # alerts per webhook post


def _posts(tenant: str, name: str, starts_at: str) -> Iterator[dict[str, object]]:
    """Alertmanager's notifications of one group of DISTINCT alerts, SENDS times over."""
    for _ in range(SENDS):
        for first in range(0, DISTINCT, GROUP):
            alerts = [
                {
                    "status": "firing",
                    "labels": {"alertname": name, "instance": f"node-{n}", "tenant": tenant},
                    "annotations": {"summary": f"{name} on node-{n}"},
                    "startsAt": starts_at,
                    "endsAt": "0001-01-01T00:00:00Z",
                }
                for n in range(first, first + GROUP)
            ]
            yield {
                "version": "4",
                "status": "firing",
                "receiver": "alertflow",
                "groupKey": f'{{}}:{{alertname="{name}"}}',
                "alerts": alerts,
            }


def _largest_rows(bootstrap: str) -> dict[str, int]:
    """Changelog topic → size of its largest message (key + value), from the beginning."""
    topics = [
        name
        for name in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
        if name.endswith("-changelog")
    ]
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"rows-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    largest = dict.fromkeys(topics, 0)
    idle = 0
    while idle < 10:
        batch = consumer.consume(num_messages=10_000, timeout=0.5)
        idle = 0 if batch else idle + 1
        for message in batch:
            if message.error() is None:
                size = len(message.key() or b"") + len(message.value() or b"")
                largest[message.topic()] = max(largest[message.topic()], size)
    consumer.close()
    return largest


@pytest.fixture(scope="module")
def worker(own_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """This module's worker (in place of the session's)."""
    process = Worker(
        own_bootstrap, tmp_path_factory.mktemp("storm"), env={"ALERTFLOW_API_TOKEN": API_TOKEN}
    )
    yield from running(process)


@pytest.fixture(scope="module")
def enriched(own_bootstrap: str, worker: Worker) -> Iterator[TopicReader]:
    """``alerts.enriched`` of this module's broker."""
    yield from reading(own_bootstrap, "alerts.enriched")


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_a_million_alerts_of_one_tenant_keep_every_row_small(
    worker: Worker, own_bootstrap: str, enriched: TopicReader
) -> None:
    tenant, name = unique("storm"), unique("NodeDown")
    starts_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    posts = _posts(tenant, name, starts_at)
    lock = threading.Lock()
    refused: list[object] = []

    def post_all() -> None:
        while True:
            with lock:
                body = next(posts, None)
            if body is None:
                return
            answer = http("POST", f"{worker.url}/webhooks/alertmanager", body)
            if answer.status != 202:
                refused.append(answer.body)

    threads = [threading.Thread(target=post_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not refused, refused[:3]

    # every distinct alert came out once, all in one incident
    mine = enriched.wait(lambda _k, v: v and v.get("tenant") == tenant, DISTINCT, timeout=900)
    incidents = {value["incident_id"] for _, value, _ in mine}
    assert len(incidents) == 1, f"{len(incidents)} incidents"
    incident = await_view(
        worker,
        f"/api/v1/incidents/{incidents.pop()}",
        lambda body: body.get("alert_count") == DISTINCT,
    )
    assert incident["status"] == "firing"

    largest = _largest_rows(own_bootstrap)
    assert largest, "no changelog topics"
    assert max(largest.values()) < MAX_ROW_BYTES, largest

    # the worker survived and still processes an ordinary alert
    after = unique("After")
    answer = http(
        "POST",
        f"{worker.url}/api/v1/alerts",
        {"title": f"{after} happened", "labels": {"alertname": after}},
    )
    assert answer.status == 202, answer.body
    enriched.wait(lambda _k, v: v and v["labels"].get("alertname") == after, timeout=120)
