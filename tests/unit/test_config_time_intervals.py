"""Time intervals with Alertmanager's semantics (cases ported from its timeinterval_test.go),
and routes muted by them in the notification plan."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from app.config import ConfigError, active
from app.config.time_intervals import TimeInterval, TimeRange
from app.notify.incident import Incident, change, fold
from app.notify.plan import plan
from tests.configs import config_of

CASES: list[tuple[dict[str, Any] | TimeInterval, list[str], list[str]]] = [
    ({}, ["02 Jan 06 15:04 +0000", "03 Jan 07 10:04 +0000"], []),
    (
        {"times": [{"start_time": "09:00", "end_time": "17:00"}], "weekdays": ["monday:friday"]},
        ["04 May 20 15:04 +0000", "05 May 20 10:04 +0000", "09 Jun 20 09:04 +0000"],
        ["03 May 20 15:04 +0000", "04 May 20 08:59 +0000", "05 May 20 05:00 +0000"],
    ),
    (
        {"days_of_month": ["4:6"], "months": ["april"], "years": ["2020"]},
        ["04 Apr 20 15:04 +0000", "05 Apr 20 00:00 +0000", "06 Apr 20 23:05 +0000"],
        [
            *("03 May 18 15:04 +0000", "03 Apr 20 23:59 +0000", "04 Jun 20 23:59 +0000"),
            *("06 Apr 19 23:59 +0000", "07 Apr 20 00:00 +0000"),
        ],
    ),
    (
        {"days_of_month": ["-3:-1"]},
        [
            *("31 Jan 20 15:04 +0000", "29 Jan 20 15:04 +0000", "30 Jun 20 00:00 +0000"),
            "29 Feb 20 23:05 +0000",
        ],
        ["27 Jan 20 15:04 +0000", "04 Jun 20 23:59 +0000", "01 Mar 20 00:00 +0000"],
    ),
    (  # built directly in Alertmanager's test too: -31:31 does not validate from YAML
        TimeInterval.model_construct(months=((6, 6),), days_of_month=((-31, 31),)),
        ["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
        ["31 May 20 00:00 +0000", "1 Jul 20 00:00 +0000"],
    ),
    (
        {
            "times": [{"start_time": "09:00", "end_time": "17:00"}],
            "weekdays": ["monday:friday"],
            "location": "Australia/Sydney",
        },
        ["06 Apr 21 13:00 +1000"],
        ["06 Apr 21 13:00 +0000"],
    ),
    (
        {
            "times": [{"start_time": "09:00", "end_time": "17:00"}],
            "weekdays": ["monday:friday"],
            "months": ["november"],
            "location": "Australia/Sydney",
        },
        ["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"],
        ["31 Oct 21 21:00 +0000"],
    ),
]


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%d %b %y %H:%M %z")


@pytest.mark.parametrize(("spec", "inside", "outside"), CASES)
def test_contains_time_like_alertmanager(
    spec: dict[str, Any] | TimeInterval, inside: list[str], outside: list[str]
) -> None:
    interval = spec if isinstance(spec, TimeInterval) else TimeInterval.model_validate(spec)
    assert [active(interval, _at(t)) for t in inside] == [True] * len(inside)
    assert [active(interval, _at(t)) for t in outside] == [False] * len(outside)


def test_times_parse_like_alertmanager() -> None:
    whole = TimeRange.model_validate({"start_time": "00:00", "end_time": "24:00"})
    assert (whole.start_time, whole.end_time) == (0, 1440)
    for bad in ({"start_time": "01:00", "end_time": "01:00"}, {"start_time": "1:00"}):
        with pytest.raises(ValueError):
            TimeRange.model_validate({"end_time": "02:00", **bad})


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        ({"weekdays": ["friday:monday"]}, "weekdays[0]: start day cannot be before end day"),
        ({"days_of_month": ["0"]}, "days_of_month[0]: 0 is not a valid day of the month"),
        ({"days_of_month": ["-1:5"]}, "end day must be negative if start day is negative"),
        ({"months": ["march:january"]}, "end month january is before start month march"),
        ({"years": ["2030:2020"]}, "end year 2020 is before start year 2030"),
        ({"location": "Mars/Olympus"}, "location: unknown time zone Mars/Olympus"),
        ({"times": [{"start_time": "25:00", "end_time": "26:00"}]}, "couldn't parse timestamp"),
    ],
)
def test_invalid_intervals_name_the_path(interval: dict[str, Any], message: str) -> None:
    document = {"time_intervals": [{"name": "x", "time_intervals": [interval]}]}
    with pytest.raises(ConfigError) as caught:
        config_of(document)
    assert "time_intervals[0].time_intervals[0]." in str(caught.value)
    assert message in str(caught.value)


SATURDAY_NOON = int(_at("03 Jan 26 12:00 +0000").timestamp() * 1000)
MONDAY = int(_at("05 Jan 26 00:00 +0000").timestamp() * 1000)


def _incident(labels: dict[str, str], paged_ms: int) -> Incident:
    """An incident of one firing alert with ``labels``, paging since ``paged_ms``."""
    found = change("a1", None, ["firing", False], at_ms=paged_ms, incident_id="i1")
    return fold(None, {**found, "labels": labels})


def test_a_muted_route_sends_nothing_until_its_interval_ends() -> None:
    config = config_of(
        {
            "time_intervals": [
                {"name": "weekend", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]}
            ],
            "routes": {
                "receiver": "ops",
                "routes": [{"matchers": ['team="db"'], "mute_time_intervals": ["weekend"]}],
            },
        },
        "ops",
    )
    incident = _incident({"team": "db"}, SATURDAY_NOON)
    incident, sends, due = plan(incident, config, SATURDAY_NOON)
    assert sends == [] and due == SATURDAY_NOON + 60_000
    _, sends, _ = plan(incident, config, MONDAY)
    assert [(s.receiver, s.state) for s in sends] == [("ops", "firing")]
    other = _incident({"team": "web"}, SATURDAY_NOON)
    _, sends, _ = plan(other, config, SATURDAY_NOON)
    assert [s.receiver for s in sends] == ["ops"]  # another route: not muted


def test_an_active_interval_holds_notifications_outside_it() -> None:
    config = config_of(
        {
            "time_intervals": [
                {"name": "weekend", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]}
            ],
            "routes": {
                "routes": [
                    {"receiver": "ops", "matchers": ["a=b"], "active_time_intervals": ["weekend"]}
                ]
            },
        },
        "ops",
    )
    incident = _incident({"a": "b"}, MONDAY)
    assert plan(incident, config, MONDAY)[1] == []
    assert [s.receiver for s in plan(incident, config, SATURDAY_NOON + 7 * 86_400_000)[1]] == [
        "ops"
    ]
