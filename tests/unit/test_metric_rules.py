"""Metric rules without Kafka: points and rules validated, the evaluation step, the alerts."""

from __future__ import annotations

from typing import Any

import pytest

from app.metric_rules.alerts import fired, resolved
from app.metric_rules.evaluate import replay, step
from app.metric_rules.index import RuleIndex
from app.metric_rules.points import PointError, parse_points, series_key
from app.metric_rules.rules import Rule, RuleError, parse_rule
from app.sources import normalize

NOW = 1_800_000_000_000


def _rule(**fields: Any) -> Rule:
    body = {"name": "HighCpu", "metric": "cpu", "condition": ">", "threshold": 80, **fields}
    return Rule.of(parse_rule(body, now="2027-01-01T00:00:00Z", rule_id="r1"))


def _points(*values_at: tuple[float, float], labels: dict[str, str] | None = None) -> list:
    return [
        {
            "tenant": "default",
            "name": "cpu",
            "value": float(v),
            "labels": labels or {"host": "a"},
            "at_ms": int(s * 1000),
        }
        for v, s in values_at
    ]


def _events(rule: Rule, points: list, until_s: float | None = None) -> list[tuple[str, float]]:
    until = None if until_s is None else int(until_s * 1000)
    events, _ = replay({rule.id: rule}, points, until)
    return [(e["event"], e["at_ms"] / 1000) for e in events]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"metric": "cpu", "condition": ">", "threshold": 1}, "name: required"),
        ({"name": "n", "metric": "cpu load", "condition": ">", "threshold": 1}, "metric:"),
        ({"name": "n", "metric": "cpu", "condition": "~", "threshold": 1}, "condition:"),
        ({"name": "n", "metric": "cpu", "condition": ">", "threshold": "80"}, "threshold:"),
        ({"name": "n", "metric": "cpu", "condition": ">", "threshold": True}, "threshold:"),
        ({"name": "n", "metric": "m", "condition": ">", "threshold": 1, "for": "soon"}, "for:"),
        (
            {"name": "n", "metric": "m", "condition": ">", "threshold": 1, "cooldown": -5},
            "cooldown",
        ),
        (
            {"name": "n", "metric": "m", "condition": ">", "threshold": 1, "matchers": ["a=~("]},
            "matchers[0]",
        ),
        (
            {"name": "n", "metric": "m", "condition": ">", "threshold": 1, "severity": "high"},
            "severity",
        ),
        (
            {
                "name": "n",
                "metric": "m",
                "condition": ">",
                "threshold": 1,
                "labels": {"rule_id": "x"},
            },
            "labels.rule_id",
        ),
        (
            {"name": "n", "metric": "m", "condition": ">", "threshold": 1, "extra": 1},
            "extra: unknown",
        ),
        ({"name": "n", "metric": "m", "condition": ">", "threshold": 1, "id": "a b"}, "id:"),
        ([], "body:"),
    ],
)
def test_an_invalid_rule_is_refused_naming_the_field(body: Any, error: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(body, now="t")
    assert str(caught.value).startswith(error), caught.value


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"value": 1}, "point.name"),
        ({"name": "cpu"}, "point.value"),
        ({"name": "cpu", "value": float("nan")}, "point.value"),
        ({"name": "cpu", "value": 1, "labels": {"a": 1}}, "point.labels.a"),
        ({"name": "cpu", "value": 1, "labels": {"1a": "x"}}, "point.labels.1a"),
        ({"name": "cpu", "value": 1, "timestamp": "yesterday"}, "point.timestamp"),
        ({"name": "cpu", "value": 1, "timestamp": (NOW + 61_000) / 1000}, "point.timestamp"),
        ({"name": "cpu", "value": 1, "unit": "%"}, "point.unit"),
        ([], "body"),
    ],
)
def test_an_invalid_point_is_refused_naming_the_field(body: Any, error: str) -> None:
    with pytest.raises(PointError) as caught:
        parse_points(body, tenant="t", now_ms=NOW)
    assert str(caught.value).startswith(error), caught.value


def test_points_take_their_time_and_tenant_and_key_their_series() -> None:
    first, second = parse_points(
        [
            {"name": "cpu", "value": 1, "labels": {"b": "1", "a": "2"}, "timestamp": 1.5},
            {"name": "cpu", "value": 2, "labels": {"a": "2", "b": "1"}, "tenant": "other"},
        ],
        tenant="t",
        now_ms=NOW,
    )
    assert (first["at_ms"], first["tenant"], second["at_ms"], second["tenant"]) == (
        1500,
        "t",
        NOW,
        "other",
    )
    assert series_key(first) == 't|cpu{a="2",b="1"}'
    assert series_key(second) == 'other|cpu{a="2",b="1"}'


def test_the_condition_must_hold_for_the_whole_for_duration() -> None:
    rule = _rule(**{"for": "60s"})
    held = _points((90, 0), (95, 30), (92, 60), (99, 70))
    assert _events(rule, held) == [("firing", 60)]
    brief = _points((90, 0), (95, 30), (50, 45), (90, 50), (95, 100))
    assert _events(rule, brief) == []
    assert _events(rule, brief + _points((96, 110))) == [("firing", 110)]


def test_every_condition_compares_against_the_threshold() -> None:
    values = _points((79, 0), (80, 1), (81, 2))
    fired_at = {
        condition: [
            at for event, at in _events(_rule(condition=condition), values) if event == "firing"
        ]
        for condition in (">", "<", ">=", "<=", "==", "!=")
    }
    assert fired_at == {">": [2], "<": [0], ">=": [1], "<=": [0], "==": [1], "!=": [0, 2]}


def test_an_alert_resolves_when_the_condition_clears_and_the_cooldown_holds() -> None:
    rule = _rule(**{"for": "2s", "cooldown": "10s"})
    points = _points(
        (90, 0),
        (90, 1),
        (90, 2),
        (90, 3),  # fires at 2
        (50, 4),  # resolves at 4: quiet until 14
        *((90, s) for s in range(5, 14)),  # held for 9 s, but inside the cooldown
        (90, 14),  # the cooldown is over and it still holds: fires
    )
    assert _events(rule, points) == [("firing", 2), ("resolved", 4), ("firing", 14)]


def test_a_series_without_points_resolves_after_stale_after() -> None:
    rule = _rule(stale_after="1m")
    points = _points((90, 0), (91, 10))
    assert _events(rule, points, until_s=69) == [("firing", 0)]
    assert _events(rule, points, until_s=70) == [("firing", 0), ("resolved", 70)]
    gap = _points((90, 0), (91, 100))  # the next point came after the series went stale
    assert _events(rule, gap) == [("firing", 0), ("resolved", 60), ("firing", 100)]


def test_the_clock_fires_a_condition_that_still_holds_without_new_points() -> None:
    rule = _rule(**{"for": "30s"})
    assert _events(rule, _points((90, 0)), until_s=29) == []
    assert _events(rule, _points((90, 0)), until_s=31) == [("firing", 31)]


def test_out_of_order_points_change_nothing() -> None:
    rule = _rule()
    series, _ = step({"r1": rule}, None, _points((90, 10))[0], 10_000)
    again, out = step({"r1": rule}, series, _points((10, 5))[0], 10_000)
    assert again == series and out == []


def test_a_rule_that_no_longer_watches_a_series_resolves_its_alert() -> None:
    rule = _rule()
    series, out = step({"r1": rule}, None, _points((90, 0))[0], 0)
    assert [t.kind for t in out] == ["fire"]
    after, out = step({}, series, _points((90, 5))[0], 5_000)
    assert [(t.kind, t.at_ms, t.starts_ms) for t in out] == [("resolve", 5_000, 0)]
    assert after is None


def test_only_series_with_something_going_on_keep_a_state() -> None:
    rule = _rule(cooldown="10s")
    quiet, _ = step({"r1": rule}, None, _points((10, 0))[0], 0)
    assert quiet is None
    firing, _ = step({"r1": rule}, None, _points((90, 0))[0], 0)
    cooling, _ = step({"r1": rule}, firing, _points((10, 1))[0], 1_000)
    assert cooling is not None and cooling["rules"]["r1"]["cooldown_until_ms"] == 11_000
    done, _ = step({"r1": rule}, cooling, None, 11_000)
    assert done is None


def test_the_alert_has_the_rules_identity_and_resolves_with_the_same_id() -> None:
    rule = _rule(severity="critical", labels={"team": "web"}, annotations={"runbook": "r"})
    series, (fire,) = step({"r1": rule}, None, _points((93, 0), labels={"host": "a"})[0], 0)
    up = fired(rule, {"host": "a"}, fire, "2027-01-01T00:00:00Z")
    _, (clear,) = step({"r1": rule}, series, _points((10, 5), labels={"host": "a"})[0], 5_000)
    down = resolved(up, clear, "2027-01-01T00:00:05Z")
    alert, gone = normalize(up), normalize(down)
    assert up["source"] == "api"
    assert alert["labels"] == {"host": "a", "team": "web", "alertname": "HighCpu", "rule_id": "r1"}
    assert alert["severity"] == "critical" and alert["annotations"]["runbook"] == "r"
    assert gone["status"] == "resolved" and gone["id"] == alert["id"]
    assert gone["fingerprint"] == alert["fingerprint"]
    other = normalize(fired(rule, {"host": "b"}, fire, "2027-01-01T00:00:00Z"))
    assert other["fingerprint"] != alert["fingerprint"]


def test_the_index_recompiles_only_changed_rules_and_forgets_deleted_ones() -> None:
    index = RuleIndex()
    one = parse_rule(
        {"name": "a", "metric": "cpu", "condition": ">", "threshold": 1}, now="1", rule_id="r1"
    )
    two = parse_rule(
        {"name": "b", "metric": "mem", "condition": ">", "threshold": 1}, now="1", rule_id="r2"
    )
    index.refresh([one, two, None])
    compiled = index.get("r1")
    index.refresh([one, {**two, "threshold": 5, "updated_at": "2"}])
    assert index.get("r1") is compiled
    assert index.get("r2") is not None and index.get("r2").threshold == 5  # type: ignore[union-attr]
    index.refresh([two])
    assert index.get("r1") is None
