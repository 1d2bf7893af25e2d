"""Every Kafka topic of alertflow, in one place: its key, its kind and its retention.

Public topics (CONTRACT.md) carry one record per message at the record's event time; the
topics between the stages carry batch messages (:mod:`app.runtime.batches`) and are
timestamped by the broker when appended (``LogAppendTime``). All topics of the chain share one
partition count, so stages keyed alike share partitions and a table row always sits in the
partition of the stream that writes it.

Retention never deletes what was accepted and not yet processed: the inter-stage topics are
deleted by *append* time (7 days after they were written, whatever event time they carry), and
the public topics keep their event-time timestamps but are bounded by size, not time (an alert
that fired a year ago is not "older than 7 days" for Kafka's purposes). See README, *Kafka*.
"""

from __future__ import annotations

import faust

from app.faust_app import app, settings
from app.runtime.fetch_ahead import Source
from app.runtime.stage import Topic

PARTITIONS = settings.partitions
WEEK_MS = 7 * 86_400_000
PUBLIC_BYTES = 1 << 30  # per partition of a public topic
_PUBLIC = {"retention.ms": "-1", "retention.bytes": str(PUBLIC_BYTES)}
_INTERNAL = {"message.timestamp.type": "LogAppendTime", "retention.ms": str(WEEK_MS)}
_CONFIGS: dict[str, dict[str, str]] = {}


def _public(name: str) -> Topic:
    _CONFIGS[name] = _PUBLIC
    return Topic(name, PARTITIONS, batched=False)


def _internal(name: str) -> Topic:
    _CONFIGS[name] = _INTERNAL
    return Topic(name, PARTITIONS, batched=True)


# Public topics (CONTRACT.md).
raw = _public("alerts.raw")  # key: tenant; one message per accepted request, as received
enriched = _public("alerts.enriched")  # key: alert id
feedback = _public("alerts.feedback")  # key: alert id
deadletter = _public("alerts.deadletter")  # key: as received
notifications_sent = _public("notifications.sent")  # key: incident id
notifications_failed = _public("notifications.failed")  # key: incident id

# Between the stages.
normalized = _internal("alerts.normalized")  # key: tenant|fingerprint (bridge → dedup)
deduped = _internal("alerts.deduped")  # key: tenant (dedup → triage)
triaged = _internal("alerts.triaged")  # key: correlation group (triage → notify)
correlated = _internal("alerts.correlated")  # key: incident id (to another partition's incident)
opened = _internal("incidents.opened")  # key: tenant (notify → triage: incident summaries)
notify_events = _internal("notify.events")  # key: incident id (acks, results, ticks, merges)
examples = _internal("learning.examples")  # key: tenant (labelled features the model learns)
fingerprint_feedback = _internal("fingerprints.feedback")  # key: tenant|fingerprint (notify →)

# Metric rules (agents.metric_rules) and remediation actions (agents.actions).
metric_points = _public("metrics.points")  # key: series (tenant|name{labels})
metric_ticks = _internal("metrics.ticks")  # event-time ticks, one per partition of the points
actions_log = _public("actions.log")  # key: incident id; every run's steps and results
# key: run id. One partition: one worker at a time owns every run (exact rate limits, kill switch).
actions_events = Topic("actions.events", 1, batched=False)
_CONFIGS[actions_events.name] = _INTERNAL
# Heartbeat pings and clock ticks (agents.heartbeats): one partition, a few heartbeats.
heartbeats = Topic("heartbeats", 1, batched=False)  # key: heartbeat name
_CONFIGS[heartbeats.name] = _INTERNAL
# Every state-changing call (app.web.audit): one partition, one order; kept forever.
audit = Topic("audit.log", 1, batched=False)
_CONFIGS[audit.name] = {"cleanup.policy": "delete", "retention.ms": "-1"}
# Compacted, one partition: the changelogs of global tables every worker reads whole.
silences = Topic("silences", 1, batched=False)  # key: silence id (tables.silences)
rules = Topic("rules", 1, batched=False)  # key: rule id (tables.rules)
links_used = Topic("links.used", 1, batched=False)  # key: a used link's signature
COMPACTED = (silences.name, rules.name, links_used.name, "heartbeats.state")

ALL = (
    raw,
    enriched,
    feedback,
    deadletter,
    notifications_sent,
    notifications_failed,
    normalized,
    deduped,
    triaged,
    correlated,
    opened,
    notify_events,
    examples,
    fingerprint_feedback,
    metric_points,
    metric_ticks,
    actions_log,
    actions_events,
    heartbeats,
    audit,
)


def source(*topics: Topic) -> faust.TopicT:
    """The Faust topic an agent subscribes to: raw keys and values, decoded by the runtime, and
    bounded in bytes fetched ahead (:mod:`app.runtime.fetch_ahead`)."""
    return Source(
        app,
        topics=[topic.name for topic in topics],
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=topics[0].partitions,
    )


def partition_counts() -> dict[str, int]:
    """Name → partition count of every topic, for creating them before the worker starts."""
    return {topic.name: topic.partitions for topic in ALL} | dict.fromkeys(COMPACTED, 1)


def keyed_state() -> tuple[str, ...]:
    """The topics whose records are routed to the stages' state by key: the inter-stage topics
    and the metric points (each partition's rule states). Their partition count must stay the
    one the worker routes keys by.

    >>> [name in keyed_state() for name in ("alerts.normalized", "metrics.points", "alerts.raw")]
    [True, True, False]
    """
    return (*(topic.name for topic in ALL if topic.batched), metric_points.name)


def topic_configs() -> dict[str, dict[str, str]]:
    """Per-topic configs for the topics created before the worker starts."""
    return dict(_CONFIGS) | {name: {"cleanup.policy": "compact"} for name in COMPACTED}
