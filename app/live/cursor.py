"""Positions in the feed's topics, as an opaque cursor a client hands back to resume.

A position maps ``(topic, partition)`` to the next offset to read. The cursor is its JSON —
per topic, the offsets of partitions 0, 1, …; -1 for a partition it does not name —
base64url-encoded without padding: the ``id`` of each Server-Sent Event, so a browser's
``Last-Event-ID`` resumes where it stopped.
"""

from __future__ import annotations

import base64
import binascii

import orjson

Position = dict[tuple[str, int], int]

MAX_CURSOR_CHARS = 4096


class CursorError(ValueError):
    """A cursor that this server did not write."""


def encode(position: Position) -> str:
    """The cursor of ``position``.

    >>> encode({("alerts.enriched", 0): 12, ("alerts.enriched", 1): 3})
    'eyJhbGVydHMuZW5yaWNoZWQiOlsxMiwzXX0'
    """
    topics: dict[str, list[int]] = {}
    for (topic, partition), offset in sorted(position.items()):
        offsets = topics.setdefault(topic, [])
        offsets.extend([-1] * (partition + 1 - len(offsets)))
        offsets[partition] = offset
    return base64.urlsafe_b64encode(orjson.dumps(topics)).rstrip(b"=").decode()


def decode(cursor: str) -> Position:
    """The position a cursor stands for; :class:`CursorError` for anything else.

    >>> decode(encode({("alerts.enriched", 0): 12, ("alerts.enriched", 2): 5}))
    {('alerts.enriched', 0): 12, ('alerts.enriched', 2): 5}
    >>> decode("bm90IGpzb24")
    Traceback (most recent call last):
    ...
    app.live.cursor.CursorError: cursor: not one this server wrote (reconnect without it)
    """
    error = CursorError("cursor: not one this server wrote (reconnect without it)")
    if len(cursor) > MAX_CURSOR_CHARS or not cursor.isascii():
        raise error
    try:
        topics = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise error from None
    if not isinstance(topics, dict):
        raise error
    position: Position = {}
    for topic, offsets in topics.items():
        if not isinstance(offsets, list):
            raise error
        for partition, offset in enumerate(offsets):
            if not isinstance(offset, int) or offset < -1:
                raise error
            if offset >= 0:
                position[(topic, partition)] = offset
    return position
