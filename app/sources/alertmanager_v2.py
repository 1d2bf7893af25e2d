"""Alertmanager API v2 ``POST /api/v2/alerts``: what Prometheus sends to its Alertmanagers.

The body is a list of *postable alerts* ``{labels, annotations?, startsAt?, endsAt?,
generatorURL?}``. Each becomes one RawAlert whose payload is the alert unchanged; the context
holds what Alertmanager derives when it accepts the alert (``api/v2/api.go``,
``postAlertsHandler``), so the record on ``alerts.raw`` carries Alertmanager's view of it:

- ``startsAt`` defaults to ``endsAt`` when only that is given, else to the receive time;
- an alert without ``endsAt`` ends ``resolve_timeout`` after it was received, unless sent again
  (``timeout: true``), as in Alertmanager;
- labels with empty values are removed, then the alert is checked (``types.Alert.Validate``).

The alert is ``resolved`` when its end time has passed at the receive time, otherwise
``firing`` (a firing alert's end time is not exposed, as in Alertmanager's notifications).
Identity: Alertmanager's fingerprint of the labels (FNV-1a), cached by label set because
Prometheus sends the same alerts again every evaluation interval.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from app.identity import label_fingerprint
from app.matchers import LABEL_NAME
from app.records import Alert, RawAlert, canonical_time, epoch_ms, format_time, parse_time
from app.sources.alertmanager import described
from app.sources.common import (
    build_alert,
    decode_json,
    invalid,
    normal_time,
    raw_alert,
    require_object,
    string_map,
)
from app.sources.errors import SourceError

VIA = "api_v2"
MAX_ALERTS = 10_000


class InvalidAlert(ValueError):
    """One postable alert fails Alertmanager's validation; the others may still be accepted."""


def split_alertmanager_v2(
    body: bytes, *, tenant: str, received_at: str, resolve_timeout_ms: int
) -> tuple[list[RawAlert], list[str]]:
    """The RawAlerts of the valid alerts of a postable-alerts body, and why the others are not.

    As Alertmanager does, a body that does not decode as a list of alert objects is refused
    whole (``SourceError``); an alert that decodes but is invalid (a bad label name, no label,
    an end before its start) is left out and named in the second list. An alert's ``tenant``
    label wins over ``tenant``.

    >>> raws, errors = split_alertmanager_v2(
    ...     b'[{"labels": {"alertname": "Up", "job": "node", "empty": ""}},'
    ...     b' {"labels": {"0bad": "x"}}]',
    ...     tenant="t", received_at="2026-01-01T00:00:00Z", resolve_timeout_ms=300_000)
    >>> raws[0]["context"]
    {'via': 'api_v2', 'starts_at': '2026-01-01T00:00:00.000Z', \
'ends_at': '2026-01-01T00:05:00.000Z', 'timeout': True}
    >>> errors
    ['alerts[1]: invalid label set: invalid name "0bad"']
    """
    alerts = decode_json(body, "body")
    if not isinstance(alerts, list):
        raise invalid("body", "expected a list of postable alerts")
    if len(alerts) > MAX_ALERTS:
        raise SourceError(
            "too_many_alerts", f"body: {len(alerts)} alerts, at most {MAX_ALERTS}", status=413
        )
    for index, alert in enumerate(alerts):
        _check_shape(alert, f"alerts[{index}]")
    raws: list[RawAlert] = []
    errors: list[str] = []
    for index, alert in enumerate(alerts):
        try:
            context = accepted_times(alert, received_at, resolve_timeout_ms)
            labels = validate(alert, context)
        except InvalidAlert as exc:
            errors.append(f"alerts[{index}]: {exc}")
            continue
        owner = labels.get("tenant") or tenant
        raws.append(
            raw_alert("alertmanager", alert, context, tenant=owner, received_at=received_at)
        )
    return raws, errors


def accepted_times(
    alert: dict[str, Any], received_at: str, resolve_timeout_ms: int
) -> dict[str, Any]:
    """The context Alertmanager would give the alert: its start, its end, whether it times out.

    >>> accepted_times({"endsAt": "2026-01-01T00:01:00Z"}, "2026-01-01T00:02:00Z", 300_000)
    {'via': 'api_v2', 'starts_at': '2026-01-01T00:01:00.000Z', \
'ends_at': '2026-01-01T00:01:00.000Z', 'timeout': False}
    """
    starts = _time(alert.get("startsAt"))
    ends = _time(alert.get("endsAt"))
    received = canonical_time(received_at)
    if starts is None:
        starts = ends or received
    timeout = ends is None
    if ends is None:
        ends = format_time(parse_time(received) + timedelta(milliseconds=resolve_timeout_ms))
    return {"via": VIA, "starts_at": starts, "ends_at": ends, "timeout": timeout}


def validate(alert: dict[str, Any], context: dict[str, Any]) -> dict[str, str]:
    """Alertmanager's checks of an accepted alert; its labels without the empty ones.

    >>> times = {"starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-01T00:05:00Z"}
    >>> validate({"labels": {"a": "1", "b": ""}}, times)
    {'a': '1'}
    >>> validate({"labels": {"b": ""}}, times)
    Traceback (most recent call last):
    ...
    app.sources.alertmanager_v2.InvalidAlert: at least one label pair required
    >>> validate({"labels": {"a": "1"}}, {**times, "ends_at": "2025-12-31T23:00:00Z"})
    Traceback (most recent call last):
    ...
    app.sources.alertmanager_v2.InvalidAlert: start time must be before end time
    """
    if epoch_ms(context["ends_at"]) < epoch_ms(context["starts_at"]):
        raise InvalidAlert("start time must be before end time")
    labels = {name: value for name, value in alert["labels"].items() if value != ""}
    for name in labels:
        if not LABEL_NAME.fullmatch(name):
            raise InvalidAlert(f'invalid label set: invalid name "{name}"')
    if not labels:
        raise InvalidAlert("at least one label pair required")
    for name in alert.get("annotations") or {}:
        if not LABEL_NAME.fullmatch(name):
            raise InvalidAlert(f'invalid annotations: invalid name "{name}"')
    return labels


def normalize_alertmanager_v2(raw: RawAlert) -> Alert:
    """The canonical Alert of one alert posted to ``/api/v2/alerts``, as
    :func:`split_alertmanager_v2` accepted it."""
    alert: dict[str, Any] = raw["payload"]
    context = raw["context"]
    labels = validate_or_raise(alert, context)
    ends_at = normal_time(context["ends_at"], "context.ends_at")
    resolved = epoch_ms(ends_at) <= epoch_ms(raw["received_at"])
    return build_alert(
        raw,
        fingerprint=fingerprint(labels),
        status="resolved" if resolved else "firing",
        **described(labels, alert),
        starts_at=normal_time(context["starts_at"], "context.starts_at"),
        ends_at=ends_at if resolved else None,
    )


def validate_or_raise(alert: dict[str, Any], context: dict[str, Any]) -> dict[str, str]:
    """:func:`validate`, failing as a source does (the record goes to the dead letters)."""
    try:
        return validate(alert, context)
    except InvalidAlert as exc:
        raise invalid("alert", str(exc)) from None


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of ``labels``, computed once per label set.

    >>> fingerprint({"alertname": "DiskFull", "cluster": "prod", "instance": "db1",
    ...              "severity": "critical"})
    '1560ad22a2dfb891'
    """
    return _fingerprint(tuple(sorted(labels.items())))


@functools.lru_cache(maxsize=65_536)
def _fingerprint(items: tuple[tuple[str, str], ...]) -> str:
    return label_fingerprint(dict(items))


def _check_shape(alert: object, path: str) -> None:
    """What Alertmanager's generated server refuses before its handler runs: wrong types."""
    alert = require_object(alert, path)
    labels = alert.get("labels")
    if labels is None:
        raise SourceError("missing_field", f"{path}.labels: required")
    for field in ("labels", "annotations"):
        value = alert.get(field)
        if value is None and field == "annotations":
            continue
        string_map(value, f"{path}.{field}")
    for field in ("startsAt", "endsAt"):
        value = alert.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            raise invalid(f"{path}.{field}", "expected an RFC 3339 date-time string")
        normal_time(value, f"{path}.{field}")
    if not isinstance(alert.get("generatorURL", ""), str):
        raise invalid(f"{path}.generatorURL", "expected a string")


def _time(value: object) -> str | None:
    if value is None:
        return None
    assert isinstance(value, str)
    moment = parse_time(value)
    return None if moment.year <= 1 else format_time(moment)  # Go's zero time: not given
