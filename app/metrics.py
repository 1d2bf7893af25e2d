"""Prometheus metrics of the pipeline, in one registry served at ``/metrics``.

Every name of ours starts with ``alertflow_``; ``process_*`` and ``python_*`` are the client
library's standard collectors. No ``*_created`` series. docs/metrics.md defines each metric.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib.metadata import version
from typing import Any, get_args

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from app.sinks.base import Outcome

disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
REGISTRY.register(GC_COLLECTOR)

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)  # how a delivery can end (app.sinks.base)
FAILURES = tuple(outcome for outcome in OUTCOMES if outcome != "success")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_RESOLUTION_BUCKETS = (60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400)

build_info = Gauge(
    "alertflow_build_info", "Always 1; the version of this worker.", ["version"], registry=REGISTRY
)
build_info.labels(version("alertflow")).set(1)
alerts_received = Counter(
    "alertflow_alerts_received",
    "Alerts accepted by the HTTP bridge (written to Kafka).",
    ["source"],
    registry=REGISTRY,
)
alerts_processed = Counter(
    "alertflow_alerts_processed",
    "Alert records (firing or resolved) published to alerts.enriched.",
    ["tenant", "severity", "source"],
    registry=REGISTRY,
)
alert_processing_duration = Histogram(
    "alertflow_alert_processing_duration_seconds",
    "Seconds from receipt by the bridge to the record on alerts.enriched.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
alerts_resolved = Counter(
    "alertflow_alerts_resolved",
    "Alert records with status resolved published to alerts.enriched.",
    ["tenant", "severity", "source"],
    registry=REGISTRY,
)
alert_resolution_time = Histogram(
    "alertflow_alert_resolution_time_seconds",
    "Seconds from an alert's start to its resolution (ends_at - starts_at).",
    ["tenant"],
    buckets=_RESOLUTION_BUCKETS,
    registry=REGISTRY,
)
stage_duration = Histogram(
    "alertflow_stage_duration_seconds",
    "Seconds one call of a stage's handler takes (a run of waiting messages of one partition).",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
gc_pause = Histogram(
    "alertflow_gc_pause_seconds",
    "Seconds one collection of Python's cycle collector held the interpreter.",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
stage_records = Counter(
    "alertflow_stage_records",
    "Records a stage handled.",
    ["stage"],
    registry=REGISTRY,
)
suppressions_processed = Counter(
    "alertflow_suppressions",
    "Alerts held back from notification, by reason.",
    ["reason"],
    registry=REGISTRY,
)
correlations_processed = Counter(
    "alertflow_correlations_processed",
    "Alerts that joined an incident that was already open.",
    registry=REGISTRY,
)
notifications_sent = Counter(
    "alertflow_notifications_sent",
    "Notifications a receiver accepted.",
    ["receiver"],
    registry=REGISTRY,
)
notifications_failed = Counter(
    "alertflow_notifications_failed",
    "Notifications that were not delivered, by reason (rejected, retries_exhausted, "
    "circuit_open, rate_limited).",
    ["receiver", "reason"],
    registry=REGISTRY,
)
dead_letters = Counter(
    "alertflow_dead_letters",
    "Records a stage could not process, sent to alerts.deadletter.",
    ["stage"],
    registry=REGISTRY,
)
stream_offsets_skipped = Counter(
    "alertflow_stream_offsets_skipped",
    "Offsets of a stage's input topics a stream passed over (committed, perhaps never processed).",
    registry=REGISTRY,
)
http_requests = Counter(
    "alertflow_http_requests",
    "HTTP requests answered, by route and status.",
    ["route", "status"],
    registry=REGISTRY,
)
consumer_lag = Gauge(
    "alertflow_consumer_lag",
    "Records of a partition this worker consumes that it has not committed yet "
    "(high-water mark - committed offset).",
    ["topic", "partition"],
    registry=REGISTRY,
)
rocksdb_memory = Gauge(
    "alertflow_rocksdb_memory_bytes",
    "Memory RocksDB holds for this worker's tables (all their open databases), by kind.",
    ["kind"],
    registry=REGISTRY,
)

# Online learning (agents.score): progressive validation of each tenant's model.
model_decisions = Counter(
    "alertflow_model_decisions",
    "Decisions of the score stage.",
    ["decision"],
    registry=REGISTRY,
)
model_samples = Gauge(
    "alertflow_model_samples",
    "Labelled examples the tenant's model has learned.",
    ["tenant"],
    registry=REGISTRY,
)
model_roc_auc = Gauge(
    "alertflow_model_roc_auc",
    "Progressive-validation ROC AUC of the tenant's model on people's labels.",
    ["tenant"],
    registry=REGISTRY,
)
model_precision = Gauge(
    "alertflow_model_precision",
    "Progressive-validation precision at the notify threshold.",
    ["tenant"],
    registry=REGISTRY,
)
model_recall = Gauge(
    "alertflow_model_recall",
    "Progressive-validation recall at the notify threshold.",
    ["tenant"],
    registry=REGISTRY,
)
false_positive_rate = Gauge(
    "alertflow_false_positive_rate",
    "Of the alerts people marked not actionable, the share the model would page: FP/(FP+TN).",
    ["tenant"],
    registry=REGISTRY,
)
alert_fatigue_score = Gauge(
    "alertflow_alert_fatigue_score",
    "Of the alerts the model would page, the share people marked not actionable: FP/(TP+FP).",
    ["tenant"],
    registry=REGISTRY,
)


def export_model(tenant: str, report: dict[str, Any]) -> None:
    """Set the model gauges of a tenant from ``Learner.report()`` (unknown values are NaN).

    >>> export_model("doc-acme", {"samples": 9, "roc_auc": None, "precision": 0.75,
    ...     "recall": 0.5, "confusion": {"tp": 3, "fp": 1, "fn": 3, "tn": 2}})
    >>> [round(REGISTRY.get_sample_value(name, {"tenant": "doc-acme"}), 3) for name in
    ...  ("alertflow_model_precision", "alertflow_false_positive_rate",
    ...   "alertflow_alert_fatigue_score")]
    [0.75, 0.333, 0.25]
    """
    model_samples.labels(tenant).set(report["samples"])
    confusion = report["confusion"]
    tp, fp, tn = confusion["tp"], confusion["fp"], confusion["tn"]
    for gauge, value in (
        (model_roc_auc, report["roc_auc"]),
        (model_precision, report["precision"]),
        (model_recall, report["recall"]),
        (false_positive_rate, fp / (fp + tn) if fp + tn else None),
        (alert_fatigue_score, fp / (tp + fp) if tp + fp else None),
    ):
        gauge.labels(tenant).set(float("nan") if value is None else value)


def count_notification(receiver: str, outcome: Outcome) -> None:
    """Count one delivery that ended with ``outcome`` (``Delivery.outcome``): ``success`` as
    sent, any other as failed with that reason.

    Every series of the receiver is exported from its first delivery on (at 0 until it
    happens), so ``rate()`` and alert rules on e.g. ``circuit_open`` see the series at once.

    >>> count_notification("doc-ops", "circuit_open")
    >>> [REGISTRY.get_sample_value("alertflow_notifications_failed_total", {"receiver": "doc-ops",
    ...  "reason": r}) for r in ("circuit_open", "rejected")]
    [1.0, 0.0]
    >>> REGISTRY.get_sample_value("alertflow_notifications_sent_total", {"receiver": "doc-ops"})
    0.0
    """
    sent = notifications_sent.labels(receiver)
    for reason in FAILURES:
        notifications_failed.labels(receiver, reason)
    if outcome == "success":
        sent.inc()
    else:
        notifications_failed.labels(receiver, outcome).inc()


def count_enriched(alerts: Iterable[Mapping[str, Any]], now: float | None = None) -> None:
    """Count alert records published to ``alerts.enriched`` (call once per batch): processed,
    processing time since receipt, and for resolved ones the resolution time.

    >>> count_enriched([{"tenant": "doc", "severity": "page", "source": "api",
    ...   "status": "resolved", "received_at": "2026-01-01T00:00:00Z",
    ...   "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-01T00:10:00Z"}])
    >>> labels = {"tenant": "doc", "severity": "page", "source": "api"}
    >>> REGISTRY.get_sample_value("alertflow_alerts_resolved_total", labels)
    1.0
    >>> REGISTRY.get_sample_value("alertflow_alert_resolution_time_seconds_sum", {"tenant": "doc"})
    600.0
    """
    now = time.time() if now is None else now
    for alert in alerts:
        labels = (alert["tenant"], alert["severity"], alert["source"])
        alerts_processed.labels(*labels).inc()
        received = _epoch(alert.get("received_at"))
        if received is not None:
            alert_processing_duration.observe(max(now - received, 0.0))
        if alert.get("status") == "resolved":
            alerts_resolved.labels(*labels).inc()
            started, ended = _epoch(alert.get("starts_at")), _epoch(alert.get("ends_at"))
            if started is not None and ended is not None:
                alert_resolution_time.labels(alert["tenant"]).observe(max(ended - started, 0.0))


def set_consumer_lag(lags: Mapping[tuple[str, int], int]) -> None:
    """Export ``lags`` ((topic, partition) → records) as the consumer lag; partitions no longer
    in ``lags`` (revoked) are dropped."""
    for topic, partition in _exported_lags() - set(lags):
        consumer_lag.remove(topic, str(partition))
    for (topic, partition), lag in lags.items():
        consumer_lag.labels(topic, str(partition)).set(lag)


def _exported_lags() -> set[tuple[str, int]]:
    return {
        (sample.labels["topic"], int(sample.labels["partition"]))
        for metric in consumer_lag.collect()
        for sample in metric.samples
    }


def lag(highwater: int | None, committed: int | None) -> int | None:
    """Records not committed yet; ``None`` while either offset is unknown.

    >>> lag(120, 100), lag(100, 100), lag(None, 3), lag(5, None)
    (20, 0, None, None)
    """
    if highwater is None or committed is None:
        return None
    return max(highwater - committed, 0)


def _epoch(timestamp: Any) -> float | None:
    if not isinstance(timestamp, str) or not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return None
