"""Alertmanager webhook (version 4): one RawAlert per alert, and its canonical Alert.

Identity: Alertmanager's own ``fingerprint`` of the alert's labels (recomputed with the same
FNV-1a function when a sender leaves it out), so ids match what Alertmanager shows; the id of an
episode is that fingerprint with ``startsAt``, equal for the firing and the resolve.
"""

from __future__ import annotations

from typing import Any, TypedDict

from app.identity import label_fingerprint
from app.records import Alert, RawAlert
from app.sources.common import (
    build_alert,
    decode_json,
    invalid,
    normal_time,
    raw_alert,
    require_field,
    require_object,
    string_map,
    text,
)
from app.sources.errors import SourceError

ZERO_TIME = "0001-01-01T00:00:00.000Z"  # Go's zero time: Alertmanager's "has not ended"
STATUSES = ("firing", "resolved")
SERVICE_LABELS = ("service", "job", "app", "cluster")


def split_alertmanager(body: bytes, *, tenant: str, received_at: str) -> list[RawAlert]:
    """Validate a webhook v4 body; one RawAlert per alert, in order.

    The payload is the alert object unchanged, the context every other top-level field. An
    alert's ``tenant`` label wins over ``tenant``.
    """
    message = require_object(decode_json(body, "body"), "body")
    version = require_field(message, "version", "")
    if version != "4":
        raise SourceError("unsupported_version", f'version: expected "4", got {version!r}')
    alerts = require_field(message, "alerts", "")
    if not isinstance(alerts, list) or not alerts:
        raise invalid("alerts", "expected a non-empty list")
    context = {key: value for key, value in message.items() if key != "alerts"}
    return [
        raw_alert(
            "alertmanager",
            alert,
            context,
            tenant=_check_alert(alert, f"alerts[{index}]").get("tenant") or tenant,
            received_at=received_at,
        )
        for index, alert in enumerate(alerts)
    ]


def _check_alert(alert: object, path: str) -> dict[str, str]:
    """Check one alert object; return its labels."""
    alert = require_object(alert, path)
    if require_field(alert, "status", path) not in STATUSES:
        raise invalid(f"{path}.status", f"expected one of {', '.join(STATUSES)}")
    labels = string_map(require_field(alert, "labels", path), f"{path}.labels")
    string_map(alert.get("annotations") or {}, f"{path}.annotations")
    normal_time(require_field(alert, "startsAt", path), f"{path}.startsAt")
    if alert.get("endsAt") is not None:
        normal_time(alert["endsAt"], f"{path}.endsAt")
    if not isinstance(alert.get("fingerprint", ""), str):
        raise invalid(f"{path}.fingerprint", "expected a string")
    return labels


class Described(TypedDict):
    """The fields of an Alert that an Alertmanager alert's labels and annotations give."""

    severity: str | None
    service: str
    title: str
    description: str
    labels: dict[str, str]
    annotations: dict[str, str]


def described(labels: dict[str, str], alert: dict[str, Any]) -> Described:
    """Severity, service, title and description from an Alertmanager alert's (webhook or API
    v2) ``labels`` and annotations; its ``generatorURL`` joins the annotations."""
    annotations = dict(alert.get("annotations") or {})
    if generator_url := text(alert.get("generatorURL")):
        annotations["generator_url"] = generator_url
    return {
        "severity": labels.get("severity"),
        "service": _service(labels),
        "title": annotations.get("summary") or labels.get("alertname", ""),
        "description": annotations.get("description") or annotations.get("message", ""),
        "labels": labels,
        "annotations": annotations,
    }


def _service(labels: dict[str, str]) -> str:
    """The first of the service labels that is set (a loop: a generator costs more here)."""
    for name in SERVICE_LABELS:
        if value := labels.get(name):
            return value
    return ""


def normalize_alertmanager(raw: RawAlert) -> Alert:
    """The canonical Alert of one Alertmanager alert, as :func:`split_alertmanager` checked
    it."""
    alert: dict[str, Any] = raw["payload"]
    labels: dict[str, str] = alert["labels"]
    ends_at = normal_time(alert["endsAt"], "alert.endsAt") if alert.get("endsAt") else None
    return build_alert(
        raw,
        fingerprint=alert.get("fingerprint") or label_fingerprint(labels),
        status=alert["status"],
        **described(labels, alert),
        starts_at=normal_time(alert["startsAt"], "alert.startsAt"),
        ends_at=None if ends_at == ZERO_TIME else ends_at,
        group_key=text(raw["context"].get("groupKey")) or None,
    )
