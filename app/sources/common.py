"""Helpers every source shares: JSON decoding, field checks, severities, times, the Alert."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from app.identity import alert_id
from app.records import Alert, RawAlert, Source, Status, canonical_time, epoch_ms, format_time
from app.severity import original as severity_original
from app.severity import severity as severity_scale
from app.sources.errors import SourceError

log = logging.getLogger(__name__)

MAX_AHEAD_MS = 3_600_000  # an event time further ahead of its receive time is taken as that
MAX_DEPTH = 64  # nesting of arrays and objects in a body; orjson writes at most 255 levels
_CONTAINERS = {dict, list}  # the types of JSON's arrays and objects once decoded


def decode_json(body: bytes, what: str) -> Any:
    """Parse JSON, or raise SourceError 400 ``invalid_json`` (``too_deep``) naming ``what``.

    >>> decode_json(b'[[[]]]', "body")
    [[[]]]
    >>> decode_json(b'[' * 65 + b']' * 65, "body")
    Traceback (most recent call last):
    ...
    app.sources.errors.SourceError: too_deep: body: nested more than 64 levels deep
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SourceError("invalid_json", f"{what}: {exc}") from None
    if deeper_than(value, MAX_DEPTH):
        raise SourceError("too_deep", f"{what}: nested more than {MAX_DEPTH} levels deep")
    return value


def deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects in ``value``, as JSON decoding makes them (plain lists and
    dicts), nest more than ``limit`` levels (no recursion).

    >>> deeper_than({"a": [1, {"b": 2}]}, 3), deeper_than({"a": [1, {"b": 2}]}, 2)
    (False, True)
    >>> deeper_than([[]], 2), deeper_than([[]], 1), deeper_than(7, 0)
    (False, True, False)
    """
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(limit):
        if not level:
            return False
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) in _CONTAINERS  # a third of isinstance(child, dict | list)'s cost
        ]
    return bool(level)


def invalid(path: str, problem: str) -> SourceError:
    """The 400 ``invalid_field`` error for the value at ``path``."""
    return SourceError("invalid_field", f"{path}: {problem}")


def require_object(value: object, path: str) -> dict[str, Any]:
    """``value`` itself if it is a JSON object, else an ``invalid_field`` error."""
    if not isinstance(value, dict):
        raise invalid(path, "expected an object")
    return value


def field_path(path: str, name: str) -> str:
    """The path of field ``name`` of the object at ``path`` (``""`` is the body itself)."""
    return f"{path}.{name}" if path else name


def require_field(obj: Mapping[str, Any], name: str, path: str) -> Any:
    """``obj[name]``, or SourceError 400 ``missing_field`` naming the field's path."""
    if obj.get(name) is None:
        raise SourceError("missing_field", f"{field_path(path, name)}: required")
    return obj[name]


def string_map(value: object, path: str) -> dict[str, str]:
    """Check that ``value`` is an object of strings to strings; the error names the bad entry.
    JSON's objects come back as they are, other mappings as a plain copy.

    >>> string_map({"a": "1"}, "labels")
    {'a': '1'}
    >>> string_map({"a": 1}, "labels")
    Traceback (most recent call last):
    ...
    app.sources.errors.SourceError: invalid_field: labels.a: expected a string
    """
    if type(value) is dict and strings_only(value):
        return value
    checked: dict[str, str] = {}
    for key, item in require_object(value, path).items():
        if not isinstance(item, str):
            raise invalid(f"{path}.{key}", "expected a string")
        checked[key] = item
    return checked


def strings_only(value: dict[str, Any]) -> bool:
    """Whether every value of a JSON object is a string, by exact type (a loop: half the cost
    of ``all()`` over a generator)."""
    for item in value.values():  # noqa: SIM110
        if type(item) is not str:
            return False
    return True


def string_items(value: object) -> dict[str, str]:
    """The string-to-string entries of a mapping or a list of pairs; anything else is skipped."""
    pairs = value.items() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return {
        pair[0]: pair[1]
        for pair in pairs
        if isinstance(pair, list | tuple)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], str)
    }


def dig(value: object, *keys: str) -> Any:
    """``value[k1][k2]...``, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def text(value: object) -> str:
    """``value`` if it is a string, else the empty string (for optional text fields)."""
    return value if isinstance(value, str) else ""


def non_empty(**values: object) -> dict[str, str]:
    """The keyword arguments whose values are non-empty strings."""
    return {name: value for name, value in values.items() if isinstance(value, str) and value}


def identifier(value: object, path: str) -> str:
    """A required id given as a string or an integer, as a string."""
    if value is None:
        raise SourceError("missing_field", f"{path}: required")
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)
    raise invalid(path, "expected a string or an integer id")


def normal_time(value: object, path: str) -> str:
    """An RFC 3339 string or epoch seconds as :func:`~app.records.format_time` text."""
    try:
        if isinstance(value, str):
            return canonical_time(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return format_time(datetime.fromtimestamp(value, UTC))
    except (ValueError, OverflowError, OSError):
        pass
    raise invalid(path, f"expected an RFC 3339 time, got {value!r}")


def raw_alert(
    source: Source,
    payload: dict[str, Any],
    context: dict[str, Any],
    *,
    tenant: str,
    received_at: str,
) -> RawAlert:
    """The value of ``alerts.raw`` for one source alert."""
    return {
        "source": source,
        "received_at": received_at,
        "tenant": tenant,
        "payload": payload,
        "context": context,
    }


def build_alert(
    raw: RawAlert,
    *,
    fingerprint: str,
    status: Status,
    severity: object,
    service: str,
    title: str,
    description: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    starts_at: str,
    ends_at: str | None,
    group_key: str | None = None,
) -> Alert:
    """The canonical alert of ``raw``, its id derived, the later stages' fields still empty.

    ``severity`` is what the source sent: mapped onto alertflow's scale (:mod:`app.severity`)
    and kept as sent in ``severity_original``.

    An event time (``starts_at``; ``ends_at`` of a resolve) more than an hour after the receive
    time is a sender's broken clock: it is taken as the receive time, and the reasons say so.
    """
    reasons: list[str] = []
    starts_at = not_ahead(starts_at, raw, "starts_at", reasons)
    if status == "resolved" and ends_at is not None:
        ends_at = not_ahead(ends_at, raw, "ends_at", reasons)
    return {
        "id": alert_id(raw["tenant"], fingerprint, epoch_ms(starts_at)),
        "tenant": raw["tenant"],
        "source": raw["source"],
        "status": status,
        "severity": severity_scale(severity),
        "severity_original": severity_original(severity),
        "service": service,
        "title": title,
        "description": description,
        "labels": labels,
        "annotations": annotations,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "received_at": raw["received_at"],
        "fingerprint": fingerprint,
        "group_key": group_key,
        "template_id": None,
        "template": None,
        "duplicate_count": 1,
        "incident_id": None,
        "score": None,
        "decision": None,
        "reasons": reasons,
    }


def not_ahead(moment: str, raw: RawAlert, name: str, reasons: list[str]) -> str:
    """``moment``, or the receive time when ``moment`` is more than an hour after it.

    >>> raw = {"received_at": "2026-01-01T00:00:00.000Z", "tenant": "t", "source": "api"}
    >>> reasons = []
    >>> not_ahead("2026-01-01T00:59:00.000Z", raw, "starts_at", reasons), reasons
    ('2026-01-01T00:59:00.000Z', [])
    >>> not_ahead("9999-12-31T00:00:00.000Z", raw, "starts_at", reasons)
    '2026-01-01T00:00:00.000Z'
    >>> reasons[0][:60]
    'starts_at 9999-12-31T00:00:00.000Z is more than 1 h after th'
    """
    received_at = raw["received_at"]
    try:
        if epoch_ms(moment) - epoch_ms(received_at) <= MAX_AHEAD_MS:
            return moment
    except (ValueError, OverflowError):  # no receive time to compare with (a test's "t")
        return moment
    reasons.append(
        f"{name} {moment} is more than 1 h after the alert was received: taken as the receive "
        f"time {received_at} (the sender's clock is wrong)"
    )
    log.warning(
        "%s alert of tenant %r: %s %s is ahead of its receive time %s; clamped",
        raw["source"],
        raw["tenant"],
        name,
        moment,
        received_at,
    )
    return received_at
