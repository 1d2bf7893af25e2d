"""Metric rules on the real broker: points in over HTTP, alerts out through the whole chain.

Every test makes its own tenant and rule, and posts points with event times a little in the
future: the worker's ticks (wall time) then find nothing newer than the points, so they neither
fire nor stale anything the test did not ask for.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.harness import Receiver, TopicReader, Worker, eventually, http, unique


def _rule(worker: Worker, tenant: str, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "HighCpu",
        "metric": "cpu_usage",
        "condition": ">",
        "threshold": 80,
        "severity": "critical",
        "matchers": ['host=~"web-.*"'],
        **fields,
    }
    created = http("POST", f"{worker.url}/api/v1/rules?tenant={tenant}", body)
    assert created.status == 202, created.body
    rule = created.body
    eventually(
        lambda: http("GET", f"{worker.url}/api/v1/rules/{rule['id']}").status == 200,
        what="the rule to reach the worker's table",
    )
    time.sleep(1.5)  # the agent's index picks rules up every second
    return rule


def _post_points(
    worker: Worker,
    tenant: str,
    base: datetime,
    *values_at: tuple[float, float],
    host: str = "web-1",
) -> None:
    points = [
        {
            "name": "cpu_usage",
            "value": value,
            "labels": {"host": host},
            "timestamp": (base + timedelta(seconds=at)).isoformat(),
        }
        for value, at in values_at
    ]
    answer = http("POST", f"{worker.url}/api/v1/metrics?tenant={tenant}", points)
    assert answer.status == 202, answer.body
    assert answer.body == {"accepted": len(points), "series": 1}


def _rule_alerts(enriched: TopicReader, rule_id: str) -> list[dict[str, Any]]:
    return [
        value
        for _, value, _ in enriched.matching(
            lambda key, value: value.get("labels", {}).get("rule_id") == rule_id
        )
    ]


def _base() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)


def test_bad_points_and_rules_get_clear_4xx(worker: Worker) -> None:
    bad_point = http("POST", f"{worker.url}/api/v1/metrics", {"name": "cpu", "value": "high"})
    assert bad_point.status == 400
    assert bad_point.body == {
        "error": "invalid_point",
        "detail": "point.value: expected a finite number, got 'high'",
    }
    bad_rule = http(
        "POST",
        f"{worker.url}/api/v1/rules",
        {"name": "x", "metric": "cpu", "condition": "=>", "threshold": 1},
    )
    assert bad_rule.status == 400 and bad_rule.body["error"] == "invalid_rule"
    assert bad_rule.body["detail"].startswith("condition:")
    assert http("GET", f"{worker.url}/api/v1/rules/nope").status == 404
    assert http("DELETE", f"{worker.url}/api/v1/rules/nope").status == 404
    unauthorized = http(
        "POST", f"{worker.url}/api/v1/metrics", {"name": "c", "value": 1}, token=None
    )
    assert unauthorized.status == 401


def test_a_condition_held_for_its_duration_pages_once_and_resolves_when_it_clears(
    worker: Worker, enriched: TopicReader, receiver: Receiver
) -> None:
    tenant = unique("mr-for")
    rule = _rule(worker, tenant, **{"for": "3s"})
    base = _base()
    _post_points(worker, tenant, base, (90, 0), (91, 1), (50, 2))  # a brief crossing
    _post_points(worker, tenant, base, (92, 3), (93, 4), (94, 5), (95, 6), (96, 7))
    firing = eventually(lambda: _rule_alerts(enriched, rule["id"]), 60, "the rule's alert")
    alert = firing[0]
    assert alert["status"] == "firing" and alert["source"] == "api"
    assert alert["starts_at"] == (base + timedelta(seconds=6)).isoformat().replace(
        "+00:00", ".000Z"
    )
    assert alert["labels"] == {"host": "web-1", "alertname": "HighCpu", "rule_id": rule["id"]}
    assert alert["severity"] == "critical" and alert["tenant"] == tenant
    incident_id = alert["incident_id"]
    receiver.wait(lambda body: body.get("incident_id") == incident_id)

    _post_points(worker, tenant, base, (70, 8))
    done = eventually(
        lambda: [a for a in _rule_alerts(enriched, rule["id"]) if a["status"] == "resolved"],
        60,
        "the resolve",
    )
    assert done[0]["id"] == alert["id"] and done[0]["fingerprint"] == alert["fingerprint"]
    assert done[0]["ends_at"].startswith((base + timedelta(seconds=8)).isoformat()[:19])
    receiver.wait(
        lambda body: body.get("incident_id") == incident_id and body["status"] == "resolved"
    )
    firings = [
        body
        for body in (post["body"] for post in receiver.posts)
        if body and body.get("incident_id") == incident_id and body.get("change") == "firing"
    ]
    assert len(firings) == 1
    episodes = {a["id"] for a in _rule_alerts(enriched, rule["id"])}
    assert episodes == {alert["id"]}, "the brief crossing fired an alert of its own"


def test_the_cooldown_holds_and_the_test_endpoint_says_the_same(
    worker: Worker, enriched: TopicReader
) -> None:
    tenant = unique("mr-cool")
    rule = _rule(worker, tenant, **{"for": "2s", "cooldown": "10s"})
    base = _base()
    series = [(90.0, 0), (90.0, 1), (90.0, 2), (90.0, 3), (50.0, 4)]
    series += [(90.0, s) for s in range(5, 15)]
    _post_points(worker, tenant, base, *series)
    seen = eventually(
        lambda: len(found := _rule_alerts(enriched, rule["id"])) >= 3 and found,
        60,
        "fire, resolve, fire",
    )
    starts = sorted({a["starts_at"] for a in seen if a["status"] == "firing"})
    expected = [
        (base + timedelta(seconds=s)).isoformat().replace("+00:00", ".000Z") for s in (2, 14)
    ]
    assert starts == expected, "fired again inside the cooldown"

    points = [
        {
            "value": v,
            "labels": {"host": "web-1"},
            "timestamp": (base + timedelta(seconds=s)).isoformat(),
        }
        for v, s in series
    ]
    tested = http("POST", f"{worker.url}/api/v1/rules/{rule['id']}/test", {"points": points})
    assert tested.status == 200, tested.body
    assert [(e["event"], e["starts_at"]) for e in tested.body["events"]] == [
        ("firing", expected[0]),
        ("resolved", expected[0]),
        ("firing", expected[1]),
    ]
    assert tested.body["pending_or_firing"][0]["firing_since"] == expected[1]
    untouched = http(
        "POST", f"{worker.url}/api/v1/rules/{rule['id']}/test", {"points": [{"value": 1}]}
    )
    assert untouched.status == 200 and untouched.body["events"] == []
    bad = http("POST", f"{worker.url}/api/v1/rules/{rule['id']}/test", {"points": [{"value": "x"}]})
    assert bad.status == 400 and bad.body["error"] == "invalid_point"


def test_deleting_a_firing_rule_resolves_its_alert(worker: Worker, enriched: TopicReader) -> None:
    tenant = unique("mr-del")
    rule = _rule(worker, tenant)
    _post_points(worker, tenant, _base(), (99, 0))
    (alert,) = eventually(lambda: _rule_alerts(enriched, rule["id"]), 60, "the rule's alert")
    deleted = http("DELETE", f"{worker.url}/api/v1/rules/{rule['id']}")
    assert deleted.status == 202
    eventually(
        lambda: http("GET", f"{worker.url}/api/v1/rules/{rule['id']}").status == 404,
        what="the rule to go",
    )
    time.sleep(1.5)  # the index drops it within a second; the next point resolves
    _post_points(worker, tenant, _base() + timedelta(seconds=20), (99, 0))
    gone = eventually(
        lambda: [a for a in _rule_alerts(enriched, rule["id"]) if a["status"] == "resolved"],
        60,
        "the resolve of the deleted rule's alert",
    )
    assert gone[0]["id"] == alert["id"]
    listed = http("GET", f"{worker.url}/api/v1/rules?tenant={tenant}")
    assert listed.status == 200 and listed.body["rules"] == []
