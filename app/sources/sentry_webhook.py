"""Sentry integration-platform webhooks: signature check, one RawAlert, its canonical Alert.

Identity (labels hashed with :func:`~app.identity.label_fingerprint`):

* ``issue``, ``event_alert``, ``error``: ``{"sentry_issue_id": <issue id>}``, so one Sentry issue
  has one fingerprint whichever resource tells of it. An issue's episode starts at its
  ``firstSeen`` (its resolve carries the id of its creation); each event alert and error is an
  episode of its own, starting at the event's ``datetime``.
* ``metric_alert``: ``{"sentry_alert_rule_id": <alert rule id>}``: the rule is the stable alert,
  each incident of it an episode starting at ``date_started`` (critical, warning and resolved of
  one incident share an id).

Times missing from a payload fall back to the next documented one, finally to ``received_at``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from app.identity import label_fingerprint
from app.records import Alert, RawAlert, Status
from app.sources.common import (
    build_alert,
    decode_json,
    dig,
    identifier,
    invalid,
    non_empty,
    normal_time,
    raw_alert,
    require_field,
    require_object,
    string_items,
    text,
)
from app.sources.errors import SourceError

STATUS_BY_ACTION: dict[str, dict[str, Status]] = {
    "issue": {
        "created": "firing",
        "unresolved": "firing",
        "assigned": "firing",
        "resolved": "resolved",
        "archived": "resolved",
        "ignored": "resolved",
    },
    "event_alert": {"triggered": "firing"},
    "metric_alert": {"critical": "firing", "warning": "firing", "resolved": "resolved"},
    "error": {"created": "firing"},
}
ALERT_RESOURCES = frozenset(STATUS_BY_ACTION)
SUBJECT_KEY = {
    "issue": "issue",
    "event_alert": "event",
    "metric_alert": "metric_alert",
    "error": "error",
}
_PROJECT_IN_URL = re.compile(r"/projects/[^/]+/([^/]+)/")


def verify_signature(body: bytes, signature: str | None, secret: str) -> None:
    """Raise SourceError 401 ``bad_signature`` unless ``signature`` is the body's HMAC-SHA256."""
    if not signature:
        raise SourceError("bad_signature", "Sentry-Hook-Signature: missing", status=401)
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise SourceError(
            "bad_signature", "Sentry-Hook-Signature: does not match the body", status=401
        )


def split_sentry_webhook(
    body: bytes, *, resource: str, tenant: str, received_at: str
) -> list[RawAlert]:
    """Validate a webhook of an alert resource; its one RawAlert.

    The payload is ``data`` unchanged; the context holds resource, action and installation.
    """
    if resource not in ALERT_RESOURCES:
        raise SourceError(
            "unsupported_resource", f"Sentry-Hook-Resource: {resource!r} is not an alert"
        )
    message = require_object(decode_json(body, "body"), "body")
    action = require_field(message, "action", "")
    if action not in STATUS_BY_ACTION[resource]:
        expected = ", ".join(STATUS_BY_ACTION[resource])
        raise invalid("action", f"expected one of {expected} for {resource}, got {action!r}")
    data = require_object(require_field(message, "data", ""), "data")
    key = SUBJECT_KEY[resource]
    require_object(require_field(data, key, "data"), f"data.{key}")
    context = {
        "via": "webhook",
        "resource": resource,
        "action": action,
        "installation": message.get("installation"),
    }
    return [raw_alert("sentry", data, context, tenant=tenant, received_at=received_at)]


def normalize_sentry_webhook(raw: RawAlert) -> Alert:
    """The canonical Alert of one Sentry webhook."""
    resource, action = text(raw["context"].get("resource")), text(raw["context"].get("action"))
    status = STATUS_BY_ACTION.get(resource, {}).get(action)
    if status is None:
        raise invalid("context", f"not an alert: resource {resource!r}, action {action!r}")
    data: dict[str, Any] = raw["payload"]
    key = SUBJECT_KEY[resource]
    subject = require_object(require_field(data, key, "data"), f"data.{key}")
    if resource == "issue":
        return _issue(raw, subject, status)
    if resource == "metric_alert":
        return _metric_alert(raw, data, subject, status, action)
    return _event(raw, data, subject, status, f"data.{key}")


def _issue(raw: RawAlert, issue: dict[str, Any], status: Status) -> Alert:
    identity = {"sentry_issue_id": identifier(issue.get("id"), "data.issue.id")}
    service = (
        text(dig(issue, "project", "slug"))
        or text(dig(issue, "project", "name"))
        or str(dig(issue, "project", "id") or "")
    )
    level = text(issue.get("level"))
    return build_alert(
        raw,
        fingerprint=label_fingerprint(identity),
        status=status,
        severity=level or "error",
        service=service,
        title=text(issue.get("title")) or text(issue.get("shortId")),
        description=text(issue.get("culprit")) or text(dig(issue, "metadata", "value")),
        labels=identity | non_empty(project=service, level=level, platform=issue.get("platform")),
        annotations=non_empty(
            web_url=issue.get("web_url"),
            url=issue.get("url"),
            permalink=issue.get("permalink"),
            short_id=issue.get("shortId"),
            culprit=issue.get("culprit"),
        ),
        starts_at=_first_time(raw, issue, "data.issue", "firstSeen", "lastSeen"),
        ends_at=raw["received_at"] if status == "resolved" else None,
    )


def _event(
    raw: RawAlert, data: dict[str, Any], event: dict[str, Any], status: Status, path: str
) -> Alert:
    identity = {"sentry_issue_id": identifier(event.get("issue_id"), f"{path}.issue_id")}
    tags = string_items(event.get("tags"))
    match = _PROJECT_IN_URL.search(text(event.get("url")))
    service = match.group(1) if match else str(event.get("project") or "")
    level = text(event.get("level")) or tags.get("level", "")
    detail = non_empty(
        project=service,
        environment=text(event.get("environment")) or tags.get("environment"),
        level=level,
        platform=event.get("platform"),
        release=event.get("release"),
    )
    return build_alert(
        raw,
        fingerprint=label_fingerprint(identity),
        status=status,
        severity=level or "error",
        service=service,
        title=text(event.get("title")) or text(event.get("message")) or "<unlabeled event>",
        description=text(event.get("culprit")) or text(dig(event, "metadata", "value")),
        labels=tags | identity | detail,
        annotations=non_empty(
            web_url=event.get("web_url"),
            url=event.get("url"),
            issue_url=event.get("issue_url"),
            culprit=event.get("culprit"),
            event_id=event.get("event_id"),
            triggered_rule=data.get("triggered_rule"),
        ),
        starts_at=_first_time(raw, event, path, "datetime", "timestamp"),
        ends_at=None,
    )


def _metric_alert(
    raw: RawAlert, data: dict[str, Any], incident: dict[str, Any], status: Status, action: str
) -> Alert:
    path = "data.metric_alert.alert_rule"
    rule = require_object(require_field(incident, "alert_rule", "data.metric_alert"), path)
    identity = {"sentry_alert_rule_id": identifier(rule.get("id"), f"{path}.id")}
    projects = incident.get("projects") or rule.get("projects")
    service = text(projects[0]) if isinstance(projects, list) and projects else ""
    ends_at = None
    if status == "resolved":
        ends_at = _first_time(raw, incident, "data.metric_alert", "date_closed")
    return build_alert(
        raw,
        fingerprint=label_fingerprint(identity),
        status=status,
        severity=None if action == "resolved" else action,  # a resolve has none: warning
        service=service,
        title=text(rule.get("name"))
        or text(incident.get("title"))
        or text(data.get("description_title")),
        description=text(data.get("description_text")),
        labels=identity
        | non_empty(
            project=service, environment=rule.get("environment"), alert_rule=rule.get("name")
        ),
        annotations=non_empty(
            web_url=data.get("web_url"),
            description_title=data.get("description_title"),
            incident=incident.get("identifier"),
        ),
        starts_at=_first_time(
            raw, incident, "data.metric_alert", "date_started", "date_detected", "date_created"
        ),
        ends_at=ends_at,
    )


def _first_time(raw: RawAlert, obj: dict[str, Any], path: str, *names: str) -> str:
    """The first of the time fields ``names`` that ``obj`` has, else the receive time."""
    for name in names:
        if obj.get(name) is not None:
            return normal_time(obj[name], f"{path}.{name}")
    return raw["received_at"]
