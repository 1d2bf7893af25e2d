"""Rule evaluation in event time, per series: one pure step the agent and the test endpoint share.

Per (rule, series) the state is when the condition started to hold (``pending_ms``), the start
of the alert while it fires (``firing_ms``), when it last fired and until when it cools down.
A series keeps a state only while something is pending, firing or cooling down, so the table
holds the series that matter now, not every series ever seen.

- a point meeting the condition starts ``pending`` (if not already); the rule **fires** when a
  point or the clock shows it has held for ``for`` and the cooldown is over;
- a point not meeting it ends ``pending``; a firing alert **resolves** at that point's time and
  the cooldown starts (``cooldown`` after the resolve, no new alert for that series);
- a series without points for ``stale_after`` ends both: a firing alert resolves at the last
  point + ``stale_after`` ("no data");
- a rule deleted or changed so that it no longer watches the series resolves its alert.

Points older than the series' last point are out of order and change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

from app.metric_rules.points import Point, series_key
from app.metric_rules.rules import Rule


class RuleState(TypedDict):
    """What one rule remembers about one series."""

    pending_ms: int | None  # the condition holds since
    firing_ms: int | None  # the alert fires since (its starts_at)
    fired_value: float | None  # the value that fired it
    last_fired_ms: int | None
    cooldown_until_ms: int | None
    alert: NotRequired[Any]  # agents.metric_rules: the firing RawAlert, to resolve it exactly


class Series(TypedDict):
    """A row of the ``rule_states`` table: one series and the states of the rules watching it."""

    tenant: str
    name: str
    labels: dict[str, str]
    last_ms: int
    value: float
    rules: dict[str, RuleState]  # rule id → state


Kind = Literal["fire", "resolve"]


@dataclass(frozen=True)
class Transition:
    """An alert to send: ``fire`` starts one at ``starts_ms``; ``resolve`` ends it at ``at_ms``."""

    rule_id: str
    kind: Kind
    at_ms: int
    starts_ms: int
    value: float
    reason: str


def step(
    rules: Mapping[str, Rule], series: Series | None, point: Point | None, now_ms: int
) -> tuple[Series | None, list[Transition]]:
    """The series after a point (or, with ``point=None``, after the clock reached ``now_ms``).

    ``rules`` are the rules that watch this series now. Returns the new row (``None`` when
    nothing is pending, firing or cooling down) and the alerts to send, oldest first.

    >>> from app.metric_rules.rules import parse_rule
    >>> rule = Rule.of(parse_rule({"name": "HighCpu", "metric": "cpu", "condition": ">",
    ...     "threshold": 80, "for": "60s", "cooldown": "5m"}, now="t", rule_id="r1"))
    >>> rules = {"r1": rule}
    >>> def point(value, at_s):
    ...     return {"tenant": "default", "name": "cpu", "labels": {}, "value": value,
    ...             "at_ms": at_s * 1000}
    >>> s, out = step(rules, None, point(90, 0), 0); s["rules"]["r1"]["pending_ms"], out
    (0, [])
    >>> s, out = step(rules, s, point(95, 60), 60_000); [(t.kind, t.at_ms) for t in out]
    [('fire', 60000)]
    >>> s, out = step(rules, s, point(50, 90), 90_000); [(t.kind, t.at_ms) for t in out]
    [('resolve', 90000)]
    >>> s["rules"]["r1"]["cooldown_until_ms"]
    390000
    """
    if series is not None and point is not None and point["at_ms"] < series["last_ms"]:
        return series, []  # out of order
    out: list[Transition] = []
    states = dict(series["rules"]) if series is not None else {}
    for rule_id in list(states):
        if rule_id not in rules:  # deleted, or changed so that it no longer watches the series
            _, gone = _stop(states.pop(rule_id), rule_id, now_ms, "the rule no longer applies")
            out += gone
    if series is not None:  # the time since the last point may have made the series stale
        at = point["at_ms"] if point is not None else now_ms
        for rule_id, rule in rules.items():
            if rule_id in states:
                states[rule_id], more = _age(rule, states[rule_id], series, at)
                out += more
    if point is not None:
        for rule_id, rule in rules.items():
            states[rule_id], more = _on_value(
                rule, states.get(rule_id) or _fresh(), point["value"], point["at_ms"]
            )
            out += more
    live = {rule_id: state for rule_id, state in states.items() if not _idle(state, now_ms)}
    if not live:
        return None, out
    if point is not None:
        return _row(point, point["at_ms"], point["value"], live), out
    assert series is not None
    return _row(series, series["last_ms"], series["value"], live), out


def _row(of: Mapping[str, Any], last_ms: int, value: float, rules: dict[str, RuleState]) -> Series:
    return {
        "tenant": of["tenant"],
        "name": of["name"],
        "labels": of["labels"],
        "last_ms": last_ms,
        "value": value,
        "rules": rules,
    }


def _fresh() -> RuleState:
    return {
        "pending_ms": None,
        "firing_ms": None,
        "fired_value": None,
        "last_fired_ms": None,
        "cooldown_until_ms": None,
    }


def _on_value(
    rule: Rule, state: RuleState, value: float, at: int
) -> tuple[RuleState, list[Transition]]:
    if not rule.holds(value):
        if state["firing_ms"] is None:
            return {**state, "pending_ms": None}, []
        return _resolve(rule.id, state, at, value, rule.cooldown_ms, "the condition cleared")
    pending = state["pending_ms"] if state["pending_ms"] is not None else at
    state = {**state, "pending_ms": pending}
    return _maybe_fire(rule, state, value, at)


def _age(
    rule: Rule, state: RuleState, series: Series, now: int
) -> tuple[RuleState, list[Transition]]:
    """The state at ``now`` given no new point: stale, or due to fire on the last value."""
    stale_at = series["last_ms"] + rule.stale_after_ms
    if now >= stale_at and (state["pending_ms"] is not None or state["firing_ms"] is not None):
        if state["firing_ms"] is None:
            return {**state, "pending_ms": None}, []
        reason = f"no data for {rule.stale_after_ms // 1000}s"
        return _resolve(rule.id, state, stale_at, series["value"], rule.cooldown_ms, reason)
    if state["pending_ms"] is not None and rule.holds(series["value"]):
        return _maybe_fire(rule, state, series["value"], now)
    return state, []


def _maybe_fire(
    rule: Rule, state: RuleState, value: float, at: int
) -> tuple[RuleState, list[Transition]]:
    pending = state["pending_ms"]
    if state["firing_ms"] is not None or pending is None or at - pending < rule.for_ms:
        return state, []
    if state["cooldown_until_ms"] is not None and at < state["cooldown_until_ms"]:
        return state, []
    fired: RuleState = {**state, "firing_ms": at, "fired_value": value, "last_fired_ms": at}
    return fired, [Transition(rule.id, "fire", at, at, value, f"{rule.summary}: {value:g}")]


def _resolve(
    rule_id: str, state: RuleState, at: int, value: float, cooldown_ms: int, reason: str
) -> tuple[RuleState, list[Transition]]:
    starts = state["firing_ms"]
    assert starts is not None
    resolved: RuleState = {
        **state,
        "pending_ms": None,
        "firing_ms": None,
        "fired_value": None,
        "cooldown_until_ms": at + cooldown_ms if cooldown_ms else None,
    }
    return resolved, [Transition(rule_id, "resolve", max(at, starts), starts, value, reason)]


def _stop(
    state: RuleState, rule_id: str, at: int, reason: str
) -> tuple[RuleState, list[Transition]]:
    if state["firing_ms"] is None:
        return state, []
    return _resolve(rule_id, state, at, state["fired_value"] or 0.0, 0, reason)


def _idle(state: RuleState, now_ms: int) -> bool:
    cooling = state["cooldown_until_ms"] is not None and now_ms < state["cooldown_until_ms"]
    return state["pending_ms"] is None and state["firing_ms"] is None and not cooling


def replay(
    rules: Mapping[str, Rule], points: list[Point], until_ms: int | None = None
) -> tuple[list[dict[str, Any]], list[Series]]:
    """What the rules would do over ``points`` (any order, any series), oldest first.

    The same :func:`step` the agent runs, without Kafka — the answer of ``POST
    /api/v1/rules/{id}/test``: the alerts that would fire and resolve, and the series still
    pending, firing or cooling down at the end (at ``until_ms`` when given, as the agent's
    clock would see it).
    """
    rows: dict[str, Series | None] = {}
    events: list[dict[str, Any]] = []
    for point in sorted(points, key=lambda p: p["at_ms"]):
        key = series_key(point)
        watching = {rid: rule for rid, rule in rules.items() if rule.watches(point)}
        rows[key], out = step(watching, rows.get(key), point, point["at_ms"])
        events += [_event(t, point["labels"]) for t in out]
    if until_ms is not None:
        for key, row in list(rows.items()):
            if row is not None and until_ms >= row["last_ms"]:
                watching = {rid: rule for rid, rule in rules.items() if rule.watches(row)}
                rows[key], out = step(watching, row, None, until_ms)
                events += [_event(t, row["labels"]) for t in out]
    return events, [row for row in rows.values() if row is not None]


def _event(transition: Transition, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "rule_id": transition.rule_id,
        "event": "firing" if transition.kind == "fire" else "resolved",
        "at_ms": transition.at_ms,
        "starts_ms": transition.starts_ms,
        "value": transition.value,
        "labels": labels,
        "reason": transition.reason,
    }
