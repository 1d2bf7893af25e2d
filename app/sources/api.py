"""The alertflow API (``POST /api/v1/alerts``): one alert object or a non-empty list of them.

Identity: the ``fingerprint`` the caller gives, else the label fingerprint of the alert's labels
plus ``__title__``, ``__service__`` and ``__tenant__``, so the same alert posted twice has the
same fingerprint. Its episode starts at ``starts_at``, by default the time it was received.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.identity import label_fingerprints
from app.records import Alert, RawAlert, Status
from app.sources.common import (
    build_alert,
    decode_json,
    field_path,
    invalid,
    normal_time,
    raw_alert,
    require_field,
    require_object,
    string_map,
    strings_only,
    text,
)
from app.sources.errors import SourceError

MAX_ALERTS = 10_000
STATUSES = ("firing", "resolved")
_MAP, _TIME, _REQUIRED, _OPTIONAL, _STATUS = "map", "time", "required", "optional", "status"
_KINDS = {  # an alert's fields by how they are checked; text that is required is non-empty
    "labels": _MAP,
    "annotations": _MAP,
    "starts_at": _TIME,
    "ends_at": _TIME,
    "title": _REQUIRED,
    "tenant": _REQUIRED,
    "fingerprint": _REQUIRED,
    "description": _OPTIONAL,
    "severity": _OPTIONAL,
    "service": _OPTIONAL,
    "status": _STATUS,
}


def split_api(body: bytes, *, tenant: str, received_at: str) -> list[RawAlert]:
    """Validate an alert or a list of alerts; one RawAlert per alert, the payload unchanged.

    An alert's own ``tenant`` wins over ``tenant``.
    """
    message = decode_json(body, "body")
    alerts = message if isinstance(message, list) else [message]
    if not alerts:
        raise invalid("body", "expected an alert object or a non-empty list of them")
    if len(alerts) > MAX_ALERTS:
        raise SourceError(
            "too_many_alerts", f"body: {len(alerts)} alerts, at most {MAX_ALERTS}", status=413
        )
    paths = [f"alerts[{index}]" if alerts is message else "" for index in range(len(alerts))]
    return [
        raw_alert("api", alert, {}, tenant=alert.get("tenant") or tenant, received_at=received_at)
        for alert in map(check_alert, alerts, paths)
    ]


def check_alert(alert: object, path: str) -> dict[str, Any]:
    """Check one alert object (``path`` names it in errors); unknown fields are refused.

    A field's kind is one lookup, JSON's strings and objects are told by exact type, and a
    field's path is built only for an error or a time's check: this runs for every alert of a
    bulk request.

    >>> check_alert({"title": "x", "labels": {"a": 1}}, "alerts[3]")
    Traceback (most recent call last):
    ...
    app.sources.errors.SourceError: invalid_field: alerts[3].labels.a: expected a string
    """
    if type(alert) is not dict:
        alert = require_object(alert, path or "body")
    if alert.get("title") is None:
        require_field(alert, "title", path)
    for name, value in alert.items():
        if value is None:
            continue
        kind = _KINDS.get(name)
        if kind is _MAP:
            if type(value) is not dict or not strings_only(value):
                string_map(value, field_path(path, name))
        elif kind is _TIME:
            if type(value) is not str:
                raise invalid(field_path(path, name), "expected an RFC 3339 string")
            normal_time(value, field_path(path, name))
        elif kind is _REQUIRED:
            if type(value) is not str or not value.strip():
                raise invalid(field_path(path, name), "expected a non-empty string")
        elif kind is _OPTIONAL:
            if type(value) is not str:
                raise invalid(field_path(path, name), "expected a string")
        elif kind is _STATUS:
            if value not in STATUSES:
                raise invalid(field_path(path, name), f"expected one of {', '.join(STATUSES)}")
        else:
            raise invalid(field_path(path, name), "unknown field")
    return alert


def normalize_api(raw: RawAlert) -> Alert:
    """The canonical Alert of one API alert."""
    return normalize_api_all([raw])[0]


def normalize_api_all(raws: Sequence[RawAlert]) -> list[Alert]:
    """The canonical Alerts of API alerts as :func:`split_api` checked them, their computed
    fingerprints hashed in one pass (:func:`~app.identity.label_fingerprints`)."""
    alerts = [raw["payload"] for raw in raws]
    services = [
        text(alert.get("service")) or (alert.get("labels") or {}).get("service", "")
        for alert in alerts
    ]
    unnamed = [i for i, alert in enumerate(alerts) if not alert.get("fingerprint")]
    identities = [
        {
            **(alerts[i].get("labels") or {}),
            "__title__": alerts[i]["title"],
            "__service__": services[i],
            "__tenant__": raws[i]["tenant"],
        }
        for i in unnamed
    ]
    computed = dict(zip(unnamed, label_fingerprints(identities), strict=True))
    return [
        _alert(raw, alert, service, alert.get("fingerprint") or computed[i])
        for i, (raw, alert, service) in enumerate(zip(raws, alerts, services, strict=True))
    ]


def _alert(raw: RawAlert, alert: dict[str, Any], service: str, fingerprint: str) -> Alert:
    """The canonical Alert of one checked API alert, its fingerprint known."""
    labels: dict[str, str] = alert.get("labels") or {}
    status: Status = alert.get("status") or "firing"
    ends_at = alert.get("ends_at") or (raw["received_at"] if status == "resolved" else None)
    return build_alert(
        raw,
        fingerprint=fingerprint,
        status=status,
        severity=alert.get("severity") or labels.get("severity"),
        service=service,
        title=alert["title"],
        description=text(alert.get("description")),
        labels=labels,
        annotations=alert.get("annotations") or {},
        starts_at=normal_time(alert.get("starts_at") or raw["received_at"], "starts_at"),
        ends_at=None if ends_at is None else normal_time(ends_at, "ends_at"),
    )
