"""Every Kafka topic of the chain, in one place, with its key and partition count.

Stages that share a key share partitions: a table is always keyed like the stream that
writes it (co-partitioning), and one partition count serves the whole chain.
"""

from __future__ import annotations

import faust

from app.faust_app import app, settings

PARTITIONS = settings.partitions


def _topic(name: str, *, value_serializer: str = "orjson") -> faust.TopicT:
    return app.topic(name, key_type=str, value_serializer=value_serializer, partitions=PARTITIONS)


# Public topics (CONTRACT.md).
raw = _topic("alerts.raw", value_serializer="raw")  # key: source fingerprint; decoded by the agent
enriched = _topic("alerts.enriched")  # key: alert id
feedback = _topic("alerts.feedback", value_serializer="raw")  # key: alert id; decoded by the agent
deadletter = _topic("alerts.deadletter")  # key: as received
notifications_sent = _topic("notifications.sent")  # key: incident id
notifications_failed = _topic("notifications.failed")  # key: incident id

# Between the stages.
normalized = _topic("alerts.normalized")  # key: fingerprint
deduped = _topic("alerts.deduped")  # key: tenant
# Hand-offs inside the tenant_chain agent (agents/tenant_chain.py): named, never written.
fingerprinted = _topic("alerts.fingerprinted")  # key: tenant
correlated = _topic("alerts.correlated")  # key: tenant
scored = _topic("alerts.scored")  # key: incident id
fingerprint_facts = _topic("fingerprints.facts")  # key: fingerprint (templates, feedback)
notify_events = _topic("notify.events")  # key: incident id (acks, delivery results, ticks)
observations = _topic("learning.observations")  # key: alert id (features the model saw)
examples = _topic("learning.examples")  # key: tenant (labelled features the model learns)
# Heartbeat pings and clock ticks (agents.heartbeats): one partition, a few heartbeats.
heartbeats = app.topic("heartbeats", key_type=str, value_serializer="orjson", partitions=1)

# Metric rules (agents.metric_rules) and remediation actions (agents.actions).
metric_points = _topic("metrics.points")  # key: series (tenant|name{labels}); public
metric_ticks = _topic("metrics.ticks")  # no key: event-time ticks, one per partition
actions_log = _topic("actions.log")  # key: incident id; every run's steps and results; public
# key: run id. One partition: one worker at a time owns every run (exact rate limits, kill switch).
actions_events = app.topic("actions.events", key_type=str, value_serializer="orjson", partitions=1)
SINGLE_PARTITION = {"silences": 1, "rules": 1, "actions.events": 1}
SINGLE_PARTITION |= {"links.used": 1, "audit.log": 1}  # app.web.audit: one order, by offset
SINGLE_PARTITION |= {"heartbeats": 1, "heartbeats.state": 1}  # agents.heartbeats, its table
COMPACTED = ("silences", "rules")  # changelogs of global tables (tables.silences, tables.rules)
COMPACTED += ("links.used",)  # tables.links_used: used signed links
COMPACTED += ("heartbeats.state",)  # tables.heartbeats' changelog

ALL = (
    raw,
    enriched,
    feedback,
    deadletter,
    notifications_sent,
    notifications_failed,
    normalized,
    deduped,
    scored,
    fingerprint_facts,
    notify_events,
    observations,
    examples,
    metric_points,
    metric_ticks,
    actions_log,
)


def partition_counts() -> dict[str, int]:
    """Name → partition count of every topic, for creating them before the worker starts."""
    return {topic.get_topic_name(): PARTITIONS for topic in ALL} | SINGLE_PARTITION


def topic_configs() -> dict[str, dict[str, str]]:
    """Per-topic configs for the topics created before the worker starts."""
    return {name: {"cleanup.policy": "compact"} for name in COMPACTED} | {
        "audit.log": {"cleanup.policy": "delete", "retention.ms": "-1"},  # kept forever
    }
