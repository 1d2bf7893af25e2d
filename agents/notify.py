"""Incidents stage: correlation windows, then the incidents, muting, routing, escalation, the
notification log and delivery — one stage, so an alert pays one hop from triage to its page.

Reads ``alerts.triaged`` (keyed by correlation group) and ``notify.events`` (keyed by incident
id). A new incident's id is chosen in its group's partition
(:func:`app.correlation.group.incident_id`), so the alerts of a triaged message are placed by
:func:`app.correlation.handler.correlate` and applied by the partition's
:class:`~app.notify.step.Step` in the same call. An alert that joins an incident of another
partition (a storm's) stays here too, in that incident's part (:mod:`app.notify.parts`), and
only its change goes there, on ``notify.events``. (``alerts.correlated``, where workers before
parts sent such alerts, is still read: what they left there is applied.) Writes what was decided:
``incidents.opened`` (summaries for triage's tenant-wide rules), ``alerts.enriched`` (one
message per alert), contributions to merged incidents and searches for feedback on
``notify.events``, ``learning.examples``, ``notifications.sent``/``.failed``,
``fingerprints.feedback``, the inhibition sources. A send starts only once the broker
acknowledged its ``in_flight`` log entry; its result comes back through ``notify.events``, so a
slow receiver never holds up the partition and a crash never loses a send (README, *Exactly one
notification*).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from typing import Any, cast

import faust

from app import metrics, topics
from app.config import Reloader
from app.correlation.handler import CORRELATION_EXPIRY, correlate
from app.faust_app import app, at_start, every, settings
from app.learning.labels import LabelPolicy
from app.notify import events
from app.notify.delivery import Deliveries
from app.notify.muting import Muting, Sources
from app.notify.step import LOG, Outputs, Settings, Step, Tables
from app.notify.timers import Timers
from app.records import Alert
from app.runtime import Context, Record, partition_of, run_stage
from app.runtime.state import Rows
from app.sinks.base import Outcome
from app.stages import periodic, producer, send_ticks, snapshot, stage
from tables.correlation import correlation
from tables.expiry import ExpiringRows
from tables.incidents import incidents
from tables.inhibitors import changelog as inhibitors_changelog
from tables.inhibitors import firing
from tables.members import members
from tables.nflog import nflog
from tables.silences import compiled_silences
from tables.timers import timers

log = logging.getLogger(__name__)


CONFIG = Reloader()  # ALERTFLOW_CONFIG / ALERTFLOW_ALERTMANAGER_CONFIG (raises ConfigError)

SETTINGS = Settings(
    base_url=settings.base_url,
    labels=LabelPolicy(
        self_resolve_ms=int(settings.self_resolve_minutes * 60_000),
        self_resolve_weight=settings.self_resolve_weight,
    ),
)
PARTITIONS = topics.notify_events.partitions
_partitions: dict[int, Timers] = {}  # this worker's partitions: clock, due index, orphans


def _lost(key: str, incident_id: str) -> None:
    """A send whose result could not be reported: look at it again as a possible orphan."""
    check_at = _wall_ms() + CONFIG.current.options.resend_after_ms
    _timers(partition_of(incident_id, PARTITIONS)).check_later(check_at, key, incident_id)


deliveries = Deliveries(producer, topics.notify_events, lambda: app.http_client, _lost)


def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Decide the records of one call; write what was decided."""
    partition = _timers(ctx.partition)
    step = Step(
        Tables(ctx.rows(incidents), ctx.rows(members), ctx.rows(nflog), ctx.rows(timers)),
        CONFIG.current,
        SETTINGS,
        partition,
        partition=ctx.partition,
        partitions=PARTITIONS,
        muting=_muting,
        wall_ms=_wall_ms(),
        running=deliveries.running,
    )
    if ctx.topic == topics.triaged.name:
        step.alerts(_placed(ctx, records, step))
    elif ctx.topic == topics.correlated.name:
        step.alerts([(record.key, record.value, record.position) for record in records])
    else:
        for record in records:
            events.apply(step, record.key, record.value, record.position)
    _write(ctx, step.settle(), partition)


def _placed(ctx: Context, records: Sequence[Record], step: Step) -> list[tuple[str, Alert, int]]:
    """Put the alerts of a triaged message in incidents: (incident, alert, position) to apply.
    The summaries go to triage, and the incidents they open await its verdict."""
    rows = ExpiringRows(ctx.rows(correlation), CORRELATION_EXPIRY, ctx.partition)
    placed = correlate(rows, records, snapshot, PARTITIONS)
    for tenant, summary in placed.summaries:
        ctx.emit(topics.opened, tenant, summary)
    step.awaiting_triage(s["incident_id"] for _, s in placed.summaries if s.get("first"))
    metrics.correlations_processed.inc(placed.joined)
    return placed.alerts


def _write(ctx: Context, out: Outputs, partition: Timers) -> None:
    for alert_id, alert, at_ms in out.enriched:
        ctx.emit(topics.enriched, alert_id, alert, at_ms)
    for key, event, to in out.events:
        ctx.emit(topics.notify_events, key, event, partition=to)
    for example in out.examples:
        ctx.emit(topics.examples, example["tenant"], example)
    for ok, incident_id, record in out.results:
        ctx.emit(
            topics.notifications_sent if ok else topics.notifications_failed, incident_id, record
        )
    for key, fact in out.facts:
        ctx.emit(topics.fingerprint_feedback, key, fact)
    for group, close in out.closed:
        ctx.emit(topics.triaged, group, close)
    for alert_id, row in out.inhibitors:
        ctx.emit(inhibitors_changelog, alert_id, row, partition=0)
    for incident_id, due_ms in out.due.items():
        partition.index.set(incident_id, due_ms)
    deliveries.finished(out.finished)
    if out.deliveries:
        config, sends = CONFIG.current, list(out.deliveries)
        ctx.after_sent(lambda: _start(config, sends))
    _measure(out)


def _start(config: Any, sends: list[tuple[str, str, dict[str, Any]]]) -> None:
    for incident_id, key, message in sends:
        deliveries.start(incident_id, key, message, config)


def _timers(partition: int) -> Timers:
    """The partition's timers, indexed from its rows the first time after an assignment."""
    if partition not in _partitions:
        rebuilt = Timers.rebuilt(
            timers.items(partition),
            lambda key: nflog.read(partition, key),
            CONFIG.current.options.resend_after_ms,
        )
        swept_to = LOG.next_bucket_ms(Rows(nflog, partition), partition)
        if swept_to is not None:  # the clock had passed the swept hours before: it starts there
            rebuilt.advance(swept_to)
        _partitions[partition] = rebuilt
    return _partitions[partition]


def _muting() -> Muting:
    rules = CONFIG.current.inhibit_rules
    sources = firing.current(rules) if rules else Sources(rules, ())
    return Muting(compiled_silences.current(), rules, sources)


def _measure(out: Outputs) -> None:
    metrics.count_enriched(alert for _, alert, _ in out.enriched)
    for reason, count in out.muted.items():
        metrics.suppressions_processed.labels(reason).inc(count)
    for (receiver, outcome), count in out.delivered.items():
        for _ in range(count):
            metrics.count_notification(receiver, cast(Outcome, outcome))
    if out.unmatched:
        log.warning("%d feedback record(s) for alerts no partition holds", out.unmatched)


def _wall_ms() -> int:
    return int(time.time() * 1000)


@app.agent(topics.source(topics.triaged, topics.correlated, topics.notify_events), concurrency=1)
async def notify(stream: faust.StreamT[Any]) -> None:
    """Place alerts in incidents, publish enriched alerts, keep incidents, send notifications."""
    tables = [correlation, incidents, members, nflog, timers]
    await run_stage(stage("notify"), stream, handle, tables)


@every(max(CONFIG.current.options.tick_interval_ms, 1000) / 1000)
@periodic
async def tick() -> None:
    """Advance event time on this worker's partitions, so timers fire without new alerts."""
    if CONFIG.current.options.tick_interval_ms:
        await send_ticks(topics.notify_events)


@every(CONFIG.current.options.reload_interval_ms / 1000)
async def reload_config() -> None:
    """Pick up a changed ALERTFLOW_CONFIG (routes, receivers, rules) atomically."""
    CONFIG.maybe_reload()


@at_start
async def reload_on_sighup() -> None:
    """``kill -HUP <worker>`` reloads the configuration at once."""
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGHUP, lambda: CONFIG.maybe_reload(force=True)
    )


@app.on_partitions_assigned.connect
async def _forget_partitions(*_: Any, **__: Any) -> None:
    """After a rebalance the timer rows are the truth: the indexes are rebuilt lazily."""
    _partitions.clear()
