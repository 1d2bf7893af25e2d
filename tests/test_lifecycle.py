"""An incident's lifecycle, the pure part (:mod:`app.lifecycle`): the timeline, the rules of a
resolve by a person, and what the incident view shows."""

from __future__ import annotations

import pytest

from app.config import Config, Route
from app.dispatch import plan
from app.lifecycle import (
    KINDS,
    MAX_EVENTS,
    after_close,
    alert_events,
    close,
    derived_timeline,
    event,
    record,
    send_events,
    takes_firing,
    view,
)

CONFIG = Config(route=Route(receivers=("ops",), group_wait_ms=0), receivers={"ops": None})


def paged_incident() -> dict:
    """An incident that paged ``ops`` for two firing alerts (through the real notify plan)."""
    incident = {
        "id": "i1",
        "status": "firing",
        "alerts": {"a1": "firing", "a2": "firing", "a3": "resolved"},
        "muted": {},
        "labels": {},
        "paged_ms": 0,
        "acknowledged": None,
        "told": {},
        "escalated": 0,
        "first_seen": "2026-01-01T00:00:00.000Z",
        "timeline": [event("opened", "2026-01-01T00:00:00.000Z", detail="a1")],
    }
    incident, sends, _ = plan(incident, CONFIG, 1_000)
    assert [(s.receiver, s.change) for s in sends] == [("ops", "firing")]
    return incident


def test_a_resolve_by_a_person_makes_the_plan_send_resolved_once() -> None:
    closed = close(paged_incident(), "ann", "2026-01-01T00:10:00.000Z")
    assert closed["closed"] == {
        "by": "ann",
        "at": "2026-01-01T00:10:00.000Z",
        "firing": ["a1", "a2"],
    }
    closed, sends, due = plan(closed, CONFIG, 2_000)
    assert [(s.receiver, s.change, s.resolved) for s in sends] == [
        ("ops", "resolved", ("a1", "a2"))
    ]
    assert due is None
    # Closed once: a second resolve (or a later message) sends nothing more.
    again = close(closed, "bob", "2026-01-01T00:11:00.000Z")
    assert again["closed"]["by"] == "ann"
    assert plan(again, CONFIG, 3_000)[1] == []


def test_a_closed_incident_takes_no_firing_alert_and_ignores_late_resolves() -> None:
    closed = close(paged_incident(), "ann", "t")
    assert not takes_firing(closed) and takes_firing(paged_incident())
    assert after_close(closed, "firing") == "new_incident"
    assert after_close(closed, "resolved") == "ignore"


def test_an_incident_resolved_at_its_source_is_not_closed_by_a_person_afterwards() -> None:
    resolved = {**paged_incident(), "status": "resolved"}
    assert "closed" not in close(resolved, "ann", "t")


def test_the_timeline_keeps_its_opening_and_the_latest_events() -> None:
    opening = event("opened", "2026-01-01T00:00:00Z")
    timeline = [opening]
    for minute in range(200):
        timeline = record(timeline, event("notified", f"m{minute:03}", receiver="ops"))
    assert len(timeline) == MAX_EVENTS and timeline[0] == opening
    assert [e["at"] for e in timeline[-2:]] == ["m198", "m199"]


def test_events_of_alerts_and_sends() -> None:
    assert [e["kind"] for e in alert_events(None, {"a1": "firing"}, "t")] == ["opened"]
    changed = alert_events(
        {"a1": "firing", "a2": "firing"}, {"a1": "resolved", "a2": "firing", "a3": "firing"}, "t"
    )
    assert [(e["kind"], e["detail"]) for e in changed] == [
        ("alert_resolved", "a1"),
        ("alert_added", "a3"),
    ]
    assert [e["kind"] for e in send_events("ops", "update", "t")] == ["notified"]
    with pytest.raises(ValueError, match="kind"):
        event("snoozed", "t")  # type: ignore[arg-type]
    assert set(KINDS) == {
        "opened",
        "alert_added",
        "alert_resolved",
        "notified",
        "acknowledged",
        "escalated",
        "resolved",
    }


def test_the_view_of_a_record_the_current_notify_stage_writes() -> None:
    record_ = {
        "status": "firing",
        "first_seen": "2026-01-01T00:00:00.000Z",
        "notified": {
            "ops:firing": "2026-01-01T00:00:30.000Z",
            "boss:escalation:1": "2026-01-01T00:15:00.000Z",
            "ops:acknowledged": "2026-01-01T00:20:01.000Z",
        },
        "acknowledged": {"kind": "ack", "by": "ann", "at": "2026-01-01T00:20:00.000Z"},
    }
    shown = view(record_)
    assert (shown["acknowledged_by"], shown["acknowledged_at"]) == (
        "ann",
        "2026-01-01T00:20:00.000Z",
    )
    assert (shown["resolved_by"], shown["resolved_at"]) == (None, None)
    assert [(e["kind"], e.get("receiver") or e.get("by")) for e in shown["timeline"]] == [
        ("opened", None),
        ("notified", "ops"),
        ("escalated", "boss"),
        ("notified", "boss"),
        ("acknowledged", "ann"),
        ("notified", "ops"),
    ]


def test_the_view_of_a_closed_incident_with_a_recorded_timeline() -> None:
    closed = close(paged_incident(), "ann", "2026-01-01T00:10:00.000Z")
    shown = view(closed)
    assert (shown["resolved_by"], shown["resolved_at"]) == ("ann", "2026-01-01T00:10:00.000Z")
    assert [e["kind"] for e in shown["timeline"]] == ["opened", "resolved"]
    assert derived_timeline(closed)[-1] == {
        "at": "2026-01-01T00:10:00.000Z",
        "kind": "resolved",
        "by": "ann",
    }
