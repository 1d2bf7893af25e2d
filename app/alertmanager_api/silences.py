"""Alertmanager's silences API (v2, 0.25) over alertflow's silences (:mod:`app.silences`).

Same topic and table as ``/api/v1/silences``: a silence made through either API mutes alike
and is listed by both. Shapes: ``postableSilence`` ``{id?, matchers, startsAt, endsAt,
createdBy, comment}`` in, ``gettableSilence`` (with ``status.state`` and ``updatedAt``) out.
Rules are Alertmanager's (``silence/silence.go``): a matcher's name is a label name, its regex
compiles, at least one matcher does not match the empty string; the end is after the start and
not in the past; a new silence does not start in the past. Posting with the ``id`` of a
silence updates it in place when only its end (or, while pending, its start) or comment
changes; otherwise that silence is expired and a new one, with a new id, replaces it.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from app.matchers import LABEL_NAME, Matcher, MatcherError, from_api
from app.records import canonical_time, epoch_ms
from app.silences import Silence, SilenceError, expire, parse_silence, state

REQUIRED = ("matchers", "startsAt", "endsAt", "createdBy", "comment")
STATE_ORDER = {"active": 1, "pending": 2, "expired": 3}


class SilenceNotFound(LookupError):
    """A posted silence names an ``id`` no silence has."""


def gettable_silence(silence: Silence, now_ms: int) -> dict[str, Any]:
    """A stored silence as a ``gettableSilence``.

    >>> s = {"id": "s1", "matchers": [{"name": "a", "value": "b", "isRegex": False,
    ...      "isEqual": True}], "starts_at": "2026-01-01T00:00:00Z",
    ...      "ends_at": "2026-01-01T01:00:00Z", "created_by": "ann", "comment": "c",
    ...      "updated_at": "2026-01-01T00:00:00Z"}
    >>> g = gettable_silence(s, epoch_ms("2026-01-01T00:30:00Z"))
    >>> g["status"], g["startsAt"], g["createdBy"]
    ({'state': 'active'}, '2026-01-01T00:00:00.000Z', 'ann')
    """
    return {
        "id": silence["id"],
        "status": {"state": state(silence, now_ms)},
        "updatedAt": canonical_time(silence["updated_at"]),
        "comment": silence["comment"],
        "createdBy": silence["created_by"],
        "endsAt": canonical_time(silence["ends_at"]),
        "matchers": [
            {
                "isEqual": bool(m.get("isEqual", True)),
                "isRegex": bool(m["isRegex"]),
                "name": m["name"],
                "value": m["value"],
            }
            for m in silence["matchers"]
        ],
        "startsAt": canonical_time(silence["starts_at"]),
    }


def set_silence(
    body: Any, existing: Mapping[str, Silence], now: str
) -> tuple[Silence, Silence | None]:
    """The silence a ``postableSilence`` sets, and the silence it expires (if it replaces one).

    Raises :class:`~app.silences.SilenceError` for an invalid body, :class:`SilenceNotFound`
    for an unknown ``id``.

    >>> now = "2026-01-01T00:00:00Z"
    >>> body = {"matchers": [{"name": "job", "value": "db", "isRegex": False}],
    ...         "startsAt": "2025-12-31T23:00:00Z", "endsAt": "2026-01-01T02:00:00Z",
    ...         "createdBy": "ann", "comment": "upgrade"}
    >>> made, replaced = set_silence(body, {}, now)
    >>> made["starts_at"], replaced  # a new silence does not start in the past
    ('2026-01-01T00:00:00.000Z', None)
    >>> longer = {**body, "id": made["id"], "startsAt": made["starts_at"],
    ...           "endsAt": "2026-01-01T04:00:00Z"}
    >>> updated, replaced = set_silence(longer, {made["id"]: made}, now)
    >>> updated["id"] == made["id"], updated["ends_at"], replaced
    (True, '2026-01-01T04:00:00.000Z', None)
    >>> other = {**longer, "matchers": [{"name": "job", "value": "web", "isRegex": False}]}
    >>> new, replaced = set_silence(other, {made["id"]: made}, now)
    >>> new["id"] != made["id"], replaced["id"] == made["id"], replaced["ends_at"]
    (True, True, '2026-01-01T00:00:00.000Z')
    """
    posted = _posted(body, now)
    silence_id = body.get("id") or None
    if silence_id is not None and not isinstance(silence_id, str):
        raise SilenceError("id: expected a string")
    previous = existing.get(silence_id) if silence_id else None
    if silence_id and previous is None:
        raise SilenceNotFound(f"silence {silence_id} not found")
    now_ms = epoch_ms(now)
    if previous is not None and can_update(previous, posted, now_ms):
        return {**posted, "id": previous["id"]}, None
    replaced = None
    if previous is not None and state(previous, now_ms) != "expired":
        replaced = expire(previous, now)
    starts = max(posted["starts_at"], canonical_time(now), key=epoch_ms)
    return {**posted, "id": str(uuid.uuid4()), "starts_at": starts}, replaced


def can_update(previous: Silence, posted: Silence, now_ms: int) -> bool:
    """Whether ``posted`` may replace ``previous`` in place (``canUpdate``): same matchers, and
    an active one keeps its start and does not end in the past, a pending one does not start in
    the past; an expired one never.

    >>> s = {"matchers": [], "starts_at": "1970-01-01T00:00:10Z", "ends_at": "1970-01-01T00:01:00Z"}
    >>> can_update(s, {**s, "ends_at": "1970-01-01T00:02:00Z"}, 20_000)
    True
    >>> can_update(s, {**s, "starts_at": "1970-01-01T00:00:15Z"}, 20_000)
    False
    """
    if _matchers(previous) != _matchers(posted):
        return False
    current = state(previous, now_ms)
    if current == "active":
        same_start = (
            epoch_ms(posted["starts_at"]) // 1000 == epoch_ms(previous["starts_at"]) // 1000
        )
        return same_start and epoch_ms(posted["ends_at"]) >= now_ms
    if current == "pending":
        return epoch_ms(posted["starts_at"]) >= now_ms
    return False


def filtered(
    silences: Iterable[Silence], filters: Iterable[Matcher], now_ms: int
) -> list[dict[str, Any]]:
    """The silences having every filter matcher among theirs (same name, type and value), in
    Alertmanager's order: active ending soonest, pending starting soonest, expired latest first.

    >>> from app.matchers import parse_matcher
    >>> make = lambda i, value, end: {"id": i, "matchers": [{"name": "job", "value": value,
    ...     "isRegex": False, "isEqual": True}], "starts_at": "1970-01-01T00:00:00Z",
    ...     "ends_at": end, "created_by": "", "comment": "", "updated_at": "1970-01-01T00:00:00Z"}
    >>> found = filtered([make("a", "db", "1970-01-01T02:00:00Z"),
    ...                   make("b", "db", "1970-01-01T01:00:00Z"),
    ...                   make("c", "web", "1970-01-01T01:00:00Z")],
    ...                  [parse_matcher("job=db")], 0)
    >>> [s["id"] for s in found]
    ['b', 'a']
    """
    wanted = [(m.name, m.op, m.value) for m in filters]
    chosen = [
        gettable_silence(s, now_ms)
        for s in silences
        if all(w in {(m.name, m.op, m.value) for m in _matchers(s)} for w in wanted)
    ]
    return sorted(chosen, key=functools.cmp_to_key(_silence_order))


def _silence_order(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    """``SortSilences``."""
    sa, sb = a["status"]["state"], b["status"]["state"]
    if sa != sb:
        return STATE_ORDER[sa] - STATE_ORDER[sb]
    if sa == "pending":
        ka, kb = epoch_ms(a["startsAt"]), epoch_ms(b["startsAt"])
    elif sa == "active":
        ka, kb = epoch_ms(a["endsAt"]), epoch_ms(b["endsAt"])
    else:
        ka, kb = epoch_ms(b["endsAt"]), epoch_ms(a["endsAt"])
    return (ka > kb) - (ka < kb)


def _posted(body: Any, now: str) -> Silence:
    """The silence a valid ``postableSilence`` describes (its id not decided yet)."""
    if not isinstance(body, dict):
        raise SilenceError("expected a postableSilence object")
    for name in REQUIRED:
        if body.get(name) is None:
            raise SilenceError(f"{name} in body is required")
    for i, matcher in enumerate(body["matchers"] if isinstance(body["matchers"], list) else []):
        if not isinstance(matcher, dict) or "isRegex" not in matcher or "value" not in matcher:
            raise SilenceError(f"matchers[{i}]: name, value and isRegex are required")
        if not LABEL_NAME.fullmatch(str(matcher.get("name"))):
            raise SilenceError(f"invalid label matcher {i}: invalid label name {matcher['name']!r}")
    silence = parse_silence({k: v for k, v in body.items() if k != "id"}, now=now, silence_id="-")
    if all(_matches_empty(m) for m in _matchers(silence)):
        raise SilenceError("at least one matcher must not match the empty string")
    if epoch_ms(silence["ends_at"]) < epoch_ms(now):
        raise SilenceError("Failed to create silence: end time can't be in the past")
    return silence


def _matches_empty(matcher: Matcher) -> bool:
    """Alertmanager's ``matchesEmpty``: only ``=`` and ``=~`` matchers count."""
    return matcher.is_equal and matcher.matches({})


def _matchers(silence: Silence) -> list[Matcher]:
    try:
        return [from_api(m) for m in silence["matchers"]]
    except MatcherError as exc:
        raise SilenceError(str(exc)) from None
