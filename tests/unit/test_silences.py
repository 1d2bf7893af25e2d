"""Silences: validation, matching, time range and expiry (app.silences)."""

from __future__ import annotations

import time

import pytest

from app.records import epoch_ms
from app.silences import SilenceError, expire, parse_silence, reason, silencing, state
from tables.silences import CompiledSilences
from tests.changelog import events, memory_table

NOW = "2026-11-23T10:00:00Z"


def _silence(**body: object) -> dict:
    return parse_silence(
        {"matchers": ["service=db"], "ends_at": "2026-11-23T12:00:00Z", **body}, now=NOW
    )


def test_alertmanager_shapes_and_strings_give_the_same_silence() -> None:
    camel = parse_silence(
        {
            "matchers": [{"name": "env", "value": "prod|staging", "isRegex": True}],
            "startsAt": "2026-11-23T11:00:00+01:00",
            "endsAt": "2026-11-23T12:00:00Z",
            "createdBy": "ann",
            "comment": "deploy",
        },
        now=NOW,
    )
    snake = parse_silence(
        {
            "matchers": ['env=~"prod|staging"'],
            "starts_at": "2026-11-23T10:00:00Z",
            "ends_at": "2026-11-23T12:00:00Z",
            "created_by": "ann",
            "comment": "deploy",
        },
        now=NOW,
    )
    assert {k: v for k, v in camel.items() if k != "id"} == {
        k: v for k, v in snake.items() if k != "id"
    }
    assert camel["matchers"] == [
        {"name": "env", "value": "prod|staging", "isRegex": True, "isEqual": True}
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"matchers": "service=db"}, "matchers: at least one matcher"),
        ({"matchers": ["service"]}, "matchers[0]: bad matcher format: service"),
        ({"matchers": ["x=~("]}, "matchers[0]: error parsing regexp"),
        ({"matchers": ['severity=~"critical|warning']}, "unescaped double quote"),
        ({"matchers": [{"name": "x", "value": "(", "isRegex": True}]}, "error parsing regexp"),
        ({"matchers": [{"name": "x", "value": 1}]}, "value must be a string"),
        ({"ends_at": None}, "ends_at: required"),
        ({"ends_at": "tomorrow"}, "ends_at: expected an RFC 3339 time"),
        ({"ends_at": "2026-11-23T09:00:00Z"}, "ends_at: must be after starts_at"),
    ],
)
def test_invalid_bodies_name_the_field(body: dict, message: str) -> None:
    full = {"matchers": ["service=db"], "ends_at": "2026-11-23T12:00:00Z", **body}
    with pytest.raises(SilenceError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_silence(full, now=NOW)


def test_only_active_matching_silences_mute_at_event_time() -> None:
    active = _silence(id="a", matchers=["service=db", "env!=dev"])
    later = _silence(id="b", starts_at="2026-11-23T11:00:00Z")
    others = _silence(id="c", matchers=["service=web"])
    labels = {"service": "db", "env": "prod"}
    at = epoch_ms("2026-11-23T10:30:00Z")
    assert [s["id"] for s in silencing([later, others, active], labels, at)] == ["a"]
    assert [
        s["id"] for s in silencing([later, active], labels, epoch_ms("2026-11-23T11:30:00Z"))
    ] == [
        "a",
        "b",
    ]
    assert silencing([active], {"service": "db", "env": "dev"}, at) == []
    assert silencing([active], labels, epoch_ms("2026-11-23T12:00:00Z")) == []


def test_expire_ends_the_silence_now_and_keeps_it() -> None:
    silence = _silence(id="s1", created_by="ann", comment="deploy")
    done = expire(silence, "2026-11-23T10:15:00Z")
    assert done["id"] == "s1" and done["ends_at"] == "2026-11-23T10:15:00.000Z"
    assert state(done, epoch_ms("2026-11-23T10:15:00Z")) == "expired"
    assert state(silence, epoch_ms("2026-11-23T10:15:00Z")) == "active"
    pending = _silence(starts_at="2026-11-23T11:00:00Z")
    assert state(expire(pending, NOW), epoch_ms(NOW)) == "expired"
    assert "ann: deploy" in reason(silence) and "s1" in reason(silence)


def test_a_pathological_regex_silence_does_not_stall_matching() -> None:
    """Issue G item 8: ``(a+)+$`` is linear time on RE2 (Python's re would take hours)."""
    silence = _silence(matchers=[{"name": "path", "value": "(a+)+$", "isRegex": True}])
    labels = {"service": "db", "path": "a" * 100_000 + "!"}
    started = time.perf_counter()
    for _ in range(50):
        assert silencing([silence], labels, epoch_ms("2026-11-23T10:30:00Z")) == []
    assert time.perf_counter() - started < 2.0


def test_silences_are_compiled_again_only_after_the_table_changed() -> None:
    table = memory_table("test-silences")
    table.apply_changelog_batch(events(("a", _silence(id="a"))))
    silences = CompiledSilences(table)
    first = silences.current()
    assert [s.order[1] for s in first] == ["a"]
    assert silences.current() is first  # nothing changed: not compiled again
    table.apply_changelog_batch(events(("b", _silence(id="b", starts_at="2026-11-23T09:00:00Z"))))
    assert [s.order[1] for s in silences.current()] == ["b", "a"]  # by start
    table.apply_changelog_batch(events(("b", None)))  # deleted
    assert [s.order[1] for s in silences.current()] == ["a"]
