"""Silences: label matchers and a time range that mute the notifications of matching alerts.

A silenced alert still flows to ``alerts.enriched`` (decision ``suppress``, with the silence in
its reasons); only the notification is held back. Silences are created, listed and expired over
``/api/v1/silences`` and kept in the compacted topic ``silences`` that every worker reads whole
(:mod:`tables.silences`). Shapes follow Alertmanager's: matchers as ``{name, value, isRegex,
isEqual}`` objects or as ``name=value``/``name!=value``/``name=~re``/``name!~re`` strings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypedDict

from app.matchers import MatcherError, from_api, parse_matcher
from app.records import canonical_time, epoch_ms, ms_time

State = Literal["pending", "active", "expired"]


class Silence(TypedDict):
    """A silence as stored on the topic and answered by the API."""

    id: str
    matchers: list[dict[str, Any]]  # Alertmanager's {name, value, isRegex, isEqual}
    starts_at: str
    ends_at: str
    created_by: str
    comment: str
    updated_at: str


class SilenceError(ValueError):
    """A silence body is invalid; the message names the field at fault."""


def parse_silence(body: Any, now: str, silence_id: str | None = None) -> Silence:
    """Validate a ``POST /api/v1/silences`` body (snake_case or Alertmanager's camelCase).

    >>> s = parse_silence({"matchers": ["service=db", {"name": "env", "value": "dev|test",
    ...     "isRegex": True}], "ends_at": "2026-01-01T02:00:00Z", "created_by": "ann",
    ...     "comment": "migration"}, now="2026-01-01T00:00:00Z", silence_id="s1")
    >>> [m["value"] for m in s["matchers"]], s["starts_at"]
    (['db', 'dev|test'], '2026-01-01T00:00:00.000Z')
    >>> parse_silence({"matchers": [], "ends_at": "2026-01-02T00:00:00Z"}, now="t")
    Traceback (most recent call last):
    ...
    app.silences.SilenceError: matchers: at least one matcher is required
    """
    if not isinstance(body, dict):
        raise SilenceError(
            "expected a JSON object {matchers, starts_at?, ends_at, created_by, comment}"
        )
    raw = body.get("matchers")
    if not isinstance(raw, list) or not raw:
        raise SilenceError("matchers: at least one matcher is required")
    matchers = [_matcher(item, f"matchers[{i}]") for i, item in enumerate(raw)]
    starts_at = _time(_field(body, "starts_at", "startsAt") or now, "starts_at")
    ends = _field(body, "ends_at", "endsAt")
    if ends is None:
        raise SilenceError("ends_at: required (RFC 3339)")
    ends_at = _time(ends, "ends_at")
    if epoch_ms(ends_at) <= epoch_ms(starts_at):
        raise SilenceError("ends_at: must be after starts_at")
    created_by = _field(body, "created_by", "createdBy") or "api"
    comment = body.get("comment") or ""
    if not isinstance(created_by, str) or not isinstance(comment, str):
        raise SilenceError("created_by, comment: expected strings")
    return {
        "id": silence_id or str(body.get("id") or uuid.uuid4()),
        "matchers": matchers,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "created_by": created_by,
        "comment": comment,
        "updated_at": _time(now, "now"),
    }


def state(silence: Silence, at_ms: int) -> State:
    """Whether the silence is yet to start, muting now, or over.

    >>> s = {"starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-01T01:00:00Z"}
    >>> [state(s, epoch_ms(t)) for t in ("2025-12-31T23:00:00Z", "2026-01-01T00:30:00Z",
    ...                                   "2026-01-01T01:00:00Z")]
    ['pending', 'active', 'expired']
    """
    if at_ms < epoch_ms(silence["starts_at"]):
        return "pending"
    return "active" if at_ms < epoch_ms(silence["ends_at"]) else "expired"


def expire(silence: Silence, now: str) -> Silence:
    """The silence ended at ``now`` (Alertmanager's expire: it stays listed, as expired).

    A silence that had not started yet starts and ends at ``now``.

    >>> s = {"starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-02T00:00:00Z"}
    >>> expire(s, "2026-01-01T06:00:00Z")["ends_at"]
    '2026-01-01T06:00:00.000Z'
    """
    at = epoch_ms(now)
    ended = ms_time(min(epoch_ms(silence["ends_at"]), at))
    starts = silence["starts_at"] if epoch_ms(silence["starts_at"]) <= at else ended
    return {**silence, "starts_at": starts, "ends_at": ended, "updated_at": _time(now, "now")}


def matches(silence: Silence, labels: Mapping[str, str]) -> bool:
    """Whether every matcher of the silence holds for ``labels``.

    >>> s = {"matchers": [{"name": "service", "value": "d.", "isRegex": True, "isEqual": True}]}
    >>> matches(s, {"service": "db"}), matches(s, {"service": "web"})
    (True, False)
    """
    return all(from_api(m).matches(labels) for m in silence["matchers"])


def silencing(silences: Iterable[Silence], labels: Mapping[str, str], at_ms: int) -> list[Silence]:
    """The silences that mute an alert with ``labels`` at event time ``at_ms``, oldest first."""
    found = [s for s in silences if state(s, at_ms) == "active" and matches(s, labels)]
    return sorted(found, key=lambda s: (s["starts_at"], s["id"]))


def reason(silence: Silence) -> str:
    """The silence in words, for the alert's ``reasons``.

    >>> reason({"id": "s1", "created_by": "ann", "comment": "migration",
    ...         "ends_at": "2026-01-01T02:00:00.000Z"})
    'silenced by s1 (ann: migration) until 2026-01-01T02:00:00.000Z'
    """
    said = (
        f"{silence['created_by']}: {silence['comment']}"
        if silence["comment"]
        else silence["created_by"]
    )
    return f"silenced by {silence['id']} ({said}) until {silence['ends_at']}"


def _matcher(item: Any, path: str) -> dict[str, Any]:
    """A matcher string (Alertmanager's syntax) or API object, as the API object."""
    try:
        if isinstance(item, str):
            return parse_matcher(item).as_api()
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise SilenceError(
                f"{path}: expected 'name=value' or {{name, value, isRegex?, isEqual?}}"
            )
        value, regex, equal = (
            item.get("value", ""),
            item.get("isRegex", False),
            item.get("isEqual", True),
        )
        if not isinstance(value, str) or not isinstance(regex, bool) or not isinstance(equal, bool):
            raise SilenceError(f"{path}: value must be a string, isRegex and isEqual true or false")
        return from_api(item).as_api()
    except MatcherError as exc:
        raise SilenceError(f"{path}: {exc}") from None


def _field(body: dict[str, Any], snake: str, camel: str) -> Any:
    return body.get(snake, body.get(camel))


def _time(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise SilenceError(f"{name}: expected an RFC 3339 time")
    try:
        return canonical_time(value)
    except (ValueError, OverflowError):
        raise SilenceError(f"{name}: expected an RFC 3339 time, got {value[:40]!r}") from None
