"""Metric rules: the points of ``metrics.points`` evaluated per series, in event time → alerts.

The stream is keyed by series, so one worker evaluates all points of a series, in order. Per
point, the rules of its tenant and metric that watch the series (:class:`RuleIndex`, rebuilt
from the ``rules`` GlobalTable every second) take one step of :func:`step`; what fires or
resolves becomes the RawAlert the plain API builds, handed to the bridge (:func:`publish`), so
dedup, correlation, scoring and routing apply unchanged. ``metrics.ticks`` advances each
partition's clock every few seconds (wall time), so a series that goes quiet resolves after
``stale_after`` and a condition that holds fires after ``for`` without a new point.

At least once: the alerts of a step are published before its state is written; a replay sends
them again with the same fingerprint and start — the same alert id, which dedup counts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import faust
import orjson

from app import topics
from app.bridge import publish
from app.faust_app import app, every
from app.metric_rules.alerts import fired, resolved
from app.metric_rules.evaluate import Series, Transition, step
from app.metric_rules.index import RuleIndex
from app.metric_rules.points import Point, point_of
from app.records import RawAlert, utc_now
from app.runtime import Context, Record, run_stage
from app.runtime.batches import Message, Place
from app.runtime.state import Rows
from app.stages import periodic, producer, stage
from tables.rule_states import rule_states
from tables.rules import rules as rules_table

TICK_SECONDS = 5.0
REFRESH_SECONDS = 1.0

INDEX = RuleIndex()
_clock: dict[int, int] = {}  # partition → latest event time seen (in memory; restarts at 0)


async def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Step the series of each point; on a tick, every series of the partition."""
    rows = ctx.rows(rule_states)
    for record in records:
        if ctx.topic == topics.metric_ticks.name:
            await _on_tick(rows, ctx.partition, int(record.value["at_ms"]))
        else:
            await _on_point(rows, str(record.key), point_of(record.value), ctx.partition)


async def _on_point(rows: Rows, key: str, point: Point, partition: int) -> None:
    _advance(partition, point["at_ms"])
    row = rows.get(key)
    watching = INDEX.watching(point)
    if row is None and not any(rule.holds(point["value"]) for rule in watching.values()):
        return  # nothing pending, firing or cooling down, and nothing starts: no state at all
    before: Series | None = None if row is None else row["series"]
    after, transitions = step(watching, before, point, point["at_ms"])
    await _settle(rows, key, before, after, transitions)


async def _on_tick(rows: Rows, partition: int, at_ms: int) -> None:
    now = _advance(partition, at_ms)
    for key, _ in list(rule_states.items(partition)):
        if key.startswith("\x00"):
            continue
        row = rows.get(key)  # as this call may have left it
        if row is None:
            continue
        series: Series = row["series"]
        after, transitions = step(INDEX.watching(series), series, None, max(now, series["last_ms"]))
        if after != series or transitions:
            await _settle(rows, key, series, after, transitions)


async def _settle(
    rows: Rows,
    key: str,
    before: Series | None,
    after: Series | None,
    transitions: list[Transition],
) -> None:
    """Publish what fired and resolved, then keep the series' state (with each firing alert)."""
    alerts: dict[str, RawAlert] = {
        rule_id: state["alert"]
        for rule_id, state in (before["rules"] if before else {}).items()
        if state.get("alert")
    }
    raws: list[RawAlert] = []
    for transition in transitions:
        if transition.kind == "fire":
            rule = INDEX.get(transition.rule_id)
            assert rule is not None and after is not None
            alerts[transition.rule_id] = fired(rule, after["labels"], transition, utc_now())
            raws.append(alerts[transition.rule_id])
        elif (firing := alerts.pop(transition.rule_id, None)) is not None:
            raws.append(resolved(firing, transition, utc_now()))
    if raws:
        await publish(raws)
    if after is None:
        if before is not None:
            rows.delete(key)
        return
    states = {
        rule_id: {**state, "alert": alerts.get(rule_id) if state["firing_ms"] else None}
        for rule_id, state in after["rules"].items()
    }
    rows.put(key, {"series": {**after, "rules": states}})


def _advance(partition: int, at_ms: int) -> int:
    _clock[partition] = max(_clock.get(partition, 0), at_ms)
    return _clock[partition]


@app.agent(topics.source(topics.metric_points, topics.metric_ticks), concurrency=1)
async def metric_rules(stream: faust.StreamT[Any]) -> None:
    """Evaluate the rules on every point; tick the clock."""
    await run_stage(stage("metric_rules"), stream, handle, [rule_states])


@every(REFRESH_SECONDS)
async def refresh_rules() -> None:
    """Recompile the rules that changed (the ``rules`` table follows its topic)."""
    INDEX.refresh(rules_table.values())


@every(TICK_SECONDS)
@periodic
async def tick_metric_rules() -> None:
    """Advance event time on this worker's partitions of ``metrics.points``."""
    value = orjson.dumps({"at_ms": int(time.time() * 1000)})
    ticks: dict[Place, list[Message]] = {
        (topics.metric_ticks.name, tp.partition): [(None, value, None)]
        for tp in app.assignor.assigned_actives()
        if tp.topic == topics.metric_points.name
    }
    if ticks:
        await producer.send(ticks)
