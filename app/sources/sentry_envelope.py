"""Sentry SDK envelopes (``POST /api/<project_id>/envelope/``): each error event is an alert.

An envelope is a JSON header line, then items: a JSON item header line with ``type`` and an
optional ``length``, then that many payload bytes (without ``length``: up to the next newline).
Errors travel as ``event`` items; every other item (``transaction``, ``session``, ``sessions``,
``client_report``, ``attachment``, ...) is accepted and carries no alert.

Identity: ``{"sentry_project": <project id>, "sentry_grouping": <grouping>}``, the grouping
being the event's own ``fingerprint`` list with ``{{ default }}`` replaced by the default
grouping: exception type, location (transaction, culprit or crashing frame) and the message
template before parameter substitution. Every event is an episode of its own (id from the
fingerprint and the event's ``timestamp``); deduplication merges them by fingerprint.
"""

from __future__ import annotations

from typing import Any

from app.identity import label_fingerprint
from app.records import Alert, RawAlert
from app.sources.common import (
    build_alert,
    decode_json,
    dig,
    invalid,
    non_empty,
    normal_time,
    raw_alert,
    require_object,
    string_items,
    text,
)
from app.sources.errors import SourceError

ALERT_ITEM_TYPE = "event"

EnvelopeItem = tuple[dict[str, Any], bytes]


def split_envelope(
    body: bytes, *, project_id: str, tenant: str, received_at: str
) -> tuple[str | None, list[RawAlert]]:
    """Parse an envelope; its event id and one RawAlert per ``event`` item.

    ``body`` is what the HTTP server decoded (aiohttp undoes gzip and deflate, within the
    request size limit). The payload is the event unchanged; the context holds the project id
    and envelope header.
    """
    header, items = parse_envelope(body)
    events = [
        require_object(decode_json(payload, f"items[{index}]"), f"items[{index}]")
        for index, (item_header, payload) in enumerate(items)
        if item_header["type"] == ALERT_ITEM_TYPE
    ]
    event_ids = [text(source.get("event_id")) for source in [header, *events]]
    context = {"via": "envelope", "project_id": project_id, "envelope": header}
    raws = [
        raw_alert("sentry", event, context, tenant=tenant, received_at=received_at)
        for event in events
    ]
    return next(filter(None, event_ids), None), raws


def parse_envelope(data: bytes) -> tuple[dict[str, Any], list[EnvelopeItem]]:
    """The envelope header and its (item header, payload) pairs; blank lines are skipped."""
    line, pos = _line(data, 0)
    if not line.strip():
        raise SourceError("invalid_envelope", "envelope header: missing")
    header = require_object(decode_json(line, "envelope header"), "envelope header")
    items: list[EnvelopeItem] = []
    while pos < len(data):
        line, pos = _line(data, pos)
        if not line.strip():
            continue
        path = f"items[{len(items)}]"
        item_header = require_object(decode_json(line, f"{path} header"), f"{path} header")
        if not isinstance(item_header.get("type"), str):
            raise invalid(f"{path}.type", "expected a string")
        length = item_header.get("length")
        if length is None:
            payload, pos = _line(data, pos)
        elif isinstance(length, int) and not isinstance(length, bool) and length >= 0:
            payload, pos = data[pos : pos + length], pos + length
            if pos > len(data):
                raise SourceError("invalid_envelope", f"{path}: length {length} runs past the end")
            if pos < len(data) and data[pos] != ord("\n"):
                raise SourceError("invalid_envelope", f"{path}: no newline after {length} bytes")
            pos += 1
        else:
            raise invalid(f"{path}.length", "expected a non-negative integer")
        items.append((item_header, payload))
    return header, items


def _line(data: bytes, pos: int) -> tuple[bytes, int]:
    """The bytes from ``pos`` to the next newline (or the end), and the position after it."""
    end = data.find(b"\n", pos)
    return (data[pos:], len(data)) if end < 0 else (data[pos:end], end + 1)


def normalize_envelope_event(raw: RawAlert) -> Alert:
    """The canonical Alert of one SDK event."""
    event: dict[str, Any] = raw["payload"]
    project_id = text(raw["context"].get("project_id"))
    exception = _exception(event)
    exc_type, exc_value = text(exception.get("type")), text(exception.get("value"))
    template, message = _message(event)
    location = (
        text(event.get("transaction")) or text(event.get("culprit")) or _crash_frame(exception)
    )
    grouping = _grouping(event, exception, location, template)
    tags = string_items(event.get("tags"))
    level = text(event.get("level")) or "error"
    labels = tags | non_empty(
        sentry_project=project_id,
        environment=event.get("environment"),
        level=level,
        platform=event.get("platform"),
        exception_type=exc_type,
        logger=event.get("logger"),
        release=event.get("release"),
    )
    timestamp = event.get("timestamp")
    return build_alert(
        raw,
        fingerprint=label_fingerprint({"sentry_project": project_id, "sentry_grouping": grouping}),
        status="firing",
        severity=level,
        service=tags.get("service") or f"sentry-project-{project_id}",
        title=(f"{exc_type}: {exc_value}" if exc_type and exc_value else exc_type)
        or message
        or exc_value
        or "<unlabeled event>",
        description=message if exc_type and message else location,
        labels=labels,
        annotations=non_empty(
            event_id=event.get("event_id"),
            server_name=event.get("server_name"),
            transaction=event.get("transaction"),
            trace_id=dig(event, "contexts", "trace", "trace_id"),
        ),
        starts_at=raw["received_at"] if timestamp is None else normal_time(timestamp, "timestamp"),
        ends_at=None,
    )


def _grouping(
    event: dict[str, Any], exception: dict[str, Any], location: str, template: str
) -> str:
    """The event's ``fingerprint`` list, ``{{ default }}`` (or no list) standing for the default
    grouping: exception type, location and message template."""
    module, exc_type = text(exception.get("module")), text(exception.get("type"))
    default = [f"{module}.{exc_type}" if module else exc_type, location, template]
    custom = event.get("fingerprint")
    if not isinstance(custom, list) or not custom:
        return "\n".join(default)
    return "\n".join(
        part for item in custom for part in (default if _is_default(item) else [str(item)])
    )


def _is_default(part: object) -> bool:
    return isinstance(part, str) and part.replace(" ", "") == "{{default}}"


def _exception(event: dict[str, Any]) -> dict[str, Any]:
    """The exception that was raised last (the last of ``exception.values``), or ``{}``."""
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    if isinstance(values, list) and values and isinstance(values[-1], dict):
        return values[-1]
    return {}


def _crash_frame(exception: dict[str, Any]) -> str:
    """``"<module> in <function>"`` of the frame that raised (the last in-app one), or ``""``."""
    frames = dig(exception, "stacktrace", "frames")
    frames = (
        [frame for frame in frames if isinstance(frame, dict)] if isinstance(frames, list) else []
    )
    frames = [frame for frame in frames if frame.get("in_app")] or frames
    if not frames:
        return ""
    frame = frames[-1]
    where = text(frame.get("module")) or text(frame.get("filename"))
    return f"{where} in {text(frame.get('function')) or '?'}"


def _message(event: dict[str, Any]) -> tuple[str, str]:
    """The log message's template (before parameters are filled in) and its formatted text."""
    for key in ("logentry", "message"):
        value = event.get(key)
        if isinstance(value, str) and value:
            return value, value
        if isinstance(value, dict):
            template = text(value.get("message")) or text(value.get("formatted"))
            if template:
                return template, text(value.get("formatted")) or template
    return "", ""
