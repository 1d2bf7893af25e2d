"""Workers share partitions, route table views to each other, and come back after SIGKILL."""

from __future__ import annotations

from tests.harness import (
    Receiver,
    TopicReader,
    Worker,
    caught_up,
    eventually,
    http,
    partitions_owned,
    unique,
)


def test_second_worker_takes_partitions_and_views_are_routed(
    worker: Worker,
    enriched: TopicReader,
    feedback_topic: TopicReader,
    receiver: Receiver,
    tmp_path,
) -> None:
    alone = eventually(lambda: partitions_owned(worker), what="the first worker to own partitions")
    tenants = [unique("spread") for _ in range(8)]
    ids = [
        http("POST", f"{worker.url}/api/v1/alerts?tenant={tenant}", {"title": "spread"}).body[
            "ids"
        ][0]
        for tenant in tenants
    ]
    enriched.wait_keys(ids)

    second = Worker(worker.bootstrap, tmp_path / "second", env={**worker.env})
    second.start()
    try:
        eventually(
            lambda: partitions_owned(second) > 0 and partitions_owned(worker) < alone,
            90,
            "partitions spread over both workers",
        )
        for url in (f"{w.url}/api/v1/alerts/{i}" for i in ids for w in (worker, second)):
            answer = eventually(
                lambda url=url: (a := http("GET", url)).status == 200 and a, 60, f"GET {url}"
            )
            assert answer.body["id"] == url.rsplit("/", 1)[1]
        # Half the alerts live on the first worker: the body must survive the forwarding.
        for alert_id in ids:
            answer = http(
                "POST",
                f"{second.url}/api/v1/alerts/{alert_id}/acknowledge",
                {"by": "routed", "note": alert_id},
            )
            assert answer.status == 202, answer.body
        acks = feedback_topic.wait(lambda key, value: key in ids, count=len(ids))
        assert all(value["by"] == "routed" and value["note"] == key for key, value, _ in acks)
        listed = http("GET", f"{second.url}/api/v1/incidents?limit=1000").body["incidents"]
        assert set(tenants) <= {incident["tenant"] for incident in listed}
        # An incident's view asks the worker that owns the action runs for its runs (none here).
        records = enriched.matching(lambda key, value: key in ids)
        for incident_id in {value["incident_id"] for _, value, _ in records}:
            for each in (worker, second):
                view = http("GET", f"{each.url}/api/v1/incidents/{incident_id}")
                assert view.status == 200 and view.body["actions"] == [], view.body
    finally:
        second.stop()
    eventually(lambda: partitions_owned(worker) == alone, 90, "the first worker to own all again")


def test_killed_worker_comes_back_with_its_state(
    worker: Worker,
    enriched: TopicReader,
    bootstrap: str,
) -> None:
    tenant = unique("restart")
    alert = {"title": "Replica lag above 30s", "service": "pg", "starts_at": "2026-11-23T09:00:00Z"}
    (alert_id,) = http("POST", f"{worker.url}/api/v1/alerts?tenant={tenant}", alert).body["ids"]
    enriched.wait(lambda key, value: key == alert_id)
    eventually(lambda: http("GET", f"{worker.url}/api/v1/alerts/{alert_id}").status == 200)
    eventually(lambda: caught_up(bootstrap), 30, "the worker to commit what it processed")

    worker.stop(kill=True)
    worker.start()

    view = eventually(
        lambda: (a := http("GET", f"{worker.url}/api/v1/alerts/{alert_id}")).status == 200 and a,
        60,
        "the alert view after the restart",
    )
    assert view.body["tenant"] == tenant
    # The dedup table came back too: a re-send is counted, not published again.
    (again,) = http("POST", f"{worker.url}/api/v1/alerts?tenant={tenant}", alert).body["ids"]
    assert again == alert_id
    marker = unique("after")
    (probe,) = http("POST", f"{worker.url}/api/v1/alerts?tenant={tenant}", {"title": marker}).body[
        "ids"
    ]
    enriched.wait(lambda key, value: key == probe)
    assert len(enriched.matching(lambda key, value: key == alert_id)) == 1


def test_alerts_accepted_just_before_a_kill_are_not_lost(
    worker: Worker,
    enriched: TopicReader,
) -> None:
    tenant = unique("crash")
    ids = [
        http("POST", f"{worker.url}/api/v1/alerts?tenant={tenant}", {"title": f"crash {n}"}).body[
            "ids"
        ][0]
        for n in range(20)
    ]
    worker.stop(kill=True)
    worker.start()
    eventually(
        lambda: {key for key, _, _ in enriched.matching(lambda key, value: key in ids)} == set(ids),
        90,
        "every accepted alert in alerts.enriched after the restart",
    )
