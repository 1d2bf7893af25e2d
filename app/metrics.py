"""Prometheus metrics of the pipeline, in one registry served at ``/metrics``."""

from __future__ import annotations

from typing import Any, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.sinks.base import Outcome

REGISTRY = CollectorRegistry(auto_describe=True)

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)  # how a delivery can end (app.sinks.base)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

alerts_received = Counter(
    "alerts_received",
    "Alerts accepted by the HTTP bridge (written to Kafka).",
    ["source"],
    registry=REGISTRY,
)
alerts_processed = Counter(
    "alerts_processed",
    "Alerts that reached alerts.enriched.",
    ["tenant", "severity", "status"],
    registry=REGISTRY,
)
alert_processing_duration = Histogram(
    "alert_processing_duration_seconds",
    "Seconds from receipt by the bridge to the enriched record.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
stage_duration = Histogram(
    "alertflow_stage_duration_seconds",
    "Seconds one stage spends on the records of one Kafka message (a batch).",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
stage_records = Counter(
    "alertflow_stage_records",
    "Records a stage handled.",
    ["stage"],
    registry=REGISTRY,
)
suppressions_processed = Counter(
    "suppressions_processed",
    "Alerts held back from notification, by reason.",
    ["reason"],
    registry=REGISTRY,
)
correlations_processed = Counter(
    "correlations_processed",
    "Alerts that joined an incident that was already open.",
    registry=REGISTRY,
)
notifications_sent = Counter(
    "notifications_sent",
    "Notifications whose delivery ended, by receiver and outcome (success, rejected, "
    "retries_exhausted, circuit_open, rate_limited).",
    ["receiver", "outcome"],
    registry=REGISTRY,
)
dead_letters = Counter(
    "dead_letters",
    "Records a stage could not process, sent to alerts.deadletter.",
    ["stage"],
    registry=REGISTRY,
)
http_requests = Counter(
    "alertflow_http_requests",
    "HTTP requests answered, by route and status.",
    ["route", "status"],
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


def export_model(tenant: str, report: dict[str, Any]) -> None:
    """Set the model gauges of a tenant from ``Learner.report()`` (unknown values are NaN)."""
    model_samples.labels(tenant).set(report["samples"])
    for gauge, name in (
        (model_roc_auc, "roc_auc"),
        (model_precision, "precision"),
        (model_recall, "recall"),
    ):
        value = report[name]
        gauge.labels(tenant).set(float("nan") if value is None else value)


def count_notification(receiver: str, outcome: Outcome) -> None:
    """Count one delivery that ended with ``outcome`` (``Delivery.outcome``).

    Every outcome of the receiver is exported from its first delivery on (at 0 until it
    happens), so ``rate()`` and alert rules on e.g. ``circuit_open`` see the series at once.

    >>> count_notification("doc-ops", "circuit_open")
    >>> [REGISTRY.get_sample_value("notifications_sent_total", {"receiver": "doc-ops",
    ...  "outcome": o}) for o in ("circuit_open", "success", "rate_limited")]
    [1.0, 0.0, 0.0]
    """
    for known in OUTCOMES:
        notifications_sent.labels(receiver, known)
    notifications_sent.labels(receiver, outcome).inc()
