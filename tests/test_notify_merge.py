"""Storm merges downstream: an alert merged into a storm incident leaves its old incident.

The pure path of agents/notify.py: ``moved_event`` (what the storm incident's owner sends,
keyed by the old incident), ``without_alert`` (what the old incident's owner does with it),
``update_incident`` and ``app.dispatch.plan`` (what the old incident's receivers are told).
"""

from __future__ import annotations

from typing import Any

from agents.notify import moved_event, update_incident, without_alert
from app.dispatch import plan
from tests.configs import config_of

MIN = 60_000
CONFIG = config_of({"routes": {"receiver": "ops", "group_interval": "5m"}}, "ops")


def _alert(alert_id: str, incident_id: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": alert_id,
        "incident_id": incident_id,
        "tenant": "t",
        "status": "firing",
        "title": "Upstream timeouts",
        "severity": "warning",
        "score": 0.8,
        "service": "api",
        "template": "Upstream timeouts",
        "starts_at": f"2026-01-01T00:{minute:02d}:00Z",
        "ends_at": None,
        "decision": "notify",
        "reasons": [],
        **extra,
    }


def _paged(*alerts: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The old incident with ``alerts`` folded in, after its first page."""
    incident = None
    for alert in alerts:
        incident = update_incident(incident, alert, {}, None)
    assert incident is not None
    now = incident["paged_ms"]
    incident, sends, _ = plan(incident, CONFIG, now)
    assert [s.change for s in sends] == ["firing"]
    return incident, now


def test_the_last_alert_moving_out_resolves_the_old_incident() -> None:
    old, now = _paged(_alert("a1", "old", 0))
    merged = _alert(
        "a1", "storm", 0, merged_from="old", status="resolved", ends_at="2026-01-01T00:03:00Z"
    )
    event = moved_event(merged)
    assert event is not None and event["incident_id"] == "old" and event["into"] == "storm"
    assert event["at_ms"] == now + 3 * MIN  # the resolve's event time

    old = without_alert(old, event["alert_id"], event["into"])
    assert old["status"] == "resolved" and old["alerts"] == {}
    old, sends, due = plan(old, CONFIG, event["at_ms"])
    assert [(s.change, s.resolved) for s in sends] == [("resolved", ("a1",))]
    assert due is None  # nothing left to wait for: not firing forever


def test_an_alert_moving_out_of_a_larger_incident_is_an_update() -> None:
    old, now = _paged(_alert("a1", "old", 0), _alert("a2", "old", 0))
    old = without_alert(old, "a1", "storm")
    assert old["status"] == "firing"
    old, sends, due = plan(old, CONFIG, now + MIN)
    assert sends == [] and due == now + 5 * MIN  # at most one update per group_interval
    old, sends, _ = plan(old, CONFIG, due)
    assert [(s.change, s.resolved) for s in sends] == [("update", ("a1",))]
    assert "merged into incident storm" in old["reasons"][0]


def test_a_replayed_or_late_message_does_not_bring_the_alert_back() -> None:
    old, _ = _paged(_alert("a1", "old", 0), _alert("a2", "old", 0))
    moved = without_alert(old, "a1", "storm")
    assert without_alert(moved, "a1", "storm") is moved  # the event replayed
    late = update_incident(moved, _alert("a1", "old", 0), {}, None)  # published before the merge
    assert late["alerts"] == {"a2": "firing"}


def test_only_a_merged_alert_sends_a_move() -> None:
    assert moved_event(_alert("a1", "old", 0)) is None
    assert moved_event(_alert("a1", "old", 0, merged_from="old")) is None
    assert moved_event(_alert("a1", "storm", 0, merged_from="old")) is not None
