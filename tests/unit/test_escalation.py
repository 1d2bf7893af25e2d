"""Escalation policies in event time (app.notify.escalation, app.notify.plan)."""

from __future__ import annotations

import pytest

from app.config import ConfigError
from app.notify.incident import Incident, change, fold
from app.notify.plan import plan
from tests.configs import config_of

MIN = 60_000
CONFIG = config_of(
    {
        "routes": {"receiver": "oncall", "escalation": "db"},
        "escalation_policies": [
            {
                "name": "db",
                "levels": [
                    {"after": "15m", "receivers": ["secondary"]},
                    {"after": "45m", "receivers": ["lead", "secondary"]},
                ],
            }
        ],
    },
    "oncall",
    "secondary",
    "lead",
)


def _incident(status: str = "firing", acknowledged: dict | None = None) -> Incident:
    """An incident of one alert, paged at 0 (and resolved at 0 when ``status`` says so)."""
    head = fold(None, change("a1", None, ["firing", False], at_ms=0, incident_id="i1"))
    if status == "resolved":
        resolved = change("a1", ["firing", False], ["resolved", False], at_ms=0, incident_id="i1")
        head = fold(head, resolved)
    head["acknowledged"] = acknowledged
    return head


def _run(incident: Incident, times: list[int]) -> list[tuple[int, str, str]]:
    sent = []
    for now in times:
        incident, sends, _ = plan(incident, CONFIG, now)
        sent += [(now, s.receiver, s.state) for s in sends]
    return sent


def test_levels_fire_when_event_time_reaches_them_and_only_once() -> None:
    sent = _run(_incident(), [0, 14 * MIN, 15 * MIN, 16 * MIN, 44 * MIN, 45 * MIN, 90 * MIN])
    assert sent == [
        (0, "oncall", "firing"),
        (15 * MIN, "secondary", "escalation:1"),
        (45 * MIN, "lead", "escalation:2"),
        (45 * MIN, "secondary", "escalation:2"),
    ]


def test_a_late_tick_reaches_every_level_it_passed() -> None:
    sent = _run(_incident(), [0, 60 * MIN])
    assert [state for _, _, state in sent] == [
        "firing",
        "escalation:1",
        "escalation:2",
        "escalation:2",
    ]


def test_the_next_due_time_is_the_next_level() -> None:
    incident, _, due = plan(_incident(), CONFIG, 0)
    assert due == 15 * MIN
    incident, _, due = plan(incident, CONFIG, 15 * MIN)
    assert due == 45 * MIN
    assert plan(incident, CONFIG, 45 * MIN)[2] is None


def test_acknowledged_or_resolved_incidents_do_not_escalate() -> None:
    acked = _incident(acknowledged={"kind": "ack", "by": "ann", "at": "T"})
    assert [s for _, _, s in _run(acked, [0, 60 * MIN])] == ["firing"]
    resolved = _incident(status="resolved")
    assert _run(resolved, [0, 60 * MIN]) == []
    incident, _, _ = plan(_incident(), CONFIG, 0)
    incident["acknowledged"] = {"kind": "ack", "by": "ann", "at": "T"}
    incident, sends, due = plan(incident, CONFIG, 60 * MIN)
    assert [(s.receiver, s.state) for s in sends] == [("oncall", "acknowledged")] and due is None
    assert plan(incident, CONFIG, 90 * MIN)[1:] == ([], None)


def test_levels_must_be_in_order_and_name_receivers() -> None:
    levels = [{"after": "30m", "receivers": ["a"]}, {"after": "10m", "receivers": ["b"]}]
    with pytest.raises(ConfigError, match="in order"):
        config_of({"escalation_policies": [{"name": "p", "levels": levels}]}, "a", "b")
    with pytest.raises(ConfigError, match="no receiver named 'ghost'"):
        config_of(
            {
                "routes": {"receiver": "a"},
                "escalation_policies": [
                    {"name": "p", "levels": [{"after": "5m", "receivers": ["ghost"]}]}
                ],
            },
            "a",
        )
