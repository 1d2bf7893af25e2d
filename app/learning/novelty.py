"""How long a kind of alert had been quiet on its service, for the scoring's novelty rule.

What people said of a kind was said of where and when it fired. A kind that fires on a service
for the first time, or after a long silence there, is news that those labels do not cover: an
intrusion detection rule that has been noise on the mail servers for days says something new
when it fires on the intranet server, or on a host where it last fired two days ago. Triage
keeps, per tenant, kind and service, when the pair last fired and the longest it was ever quiet
(``<tenant>|q|<kind>@<service>``: ``{"seen": ms, "gap": ms, "due": ms}``, rewritten at most once
per ``REFRESH_MS`` while the pair keeps firing, forgotten ``KEEP_MS`` after it last fired), and
:func:`quiet_for` tells the scoring how long the pair was quiet before an alert (within
``REFRESH_MS``) and whether that is news: never seen (within ``KEEP_MS``), or quiet for at least
``NOVEL_AFTER_MS`` and ``NOVEL_FACTOR`` times longer than it ever was before — a pair that fires
every other day is not news every other day. :mod:`app.learning.scoring` never lets the model
alone suppress an alert that is news.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.runtime.state import RowAccess

NOVEL_AFTER_MS = 24 * 3_600_000
NOVEL_FACTOR = 2.0
REFRESH_MS = 3_600_000
KEEP_MS = 30 * 86_400_000


@dataclass(frozen=True)
class Quiet:
    """How long a kind had been quiet on a service before an alert (``None``: never seen), the
    longest it had been quiet before that, and whether that makes the alert news."""

    ms: int | None
    longest_ms: int = 0

    @property
    def news(self) -> bool:
        """Never seen, or quiet for a day and for longer than ever (``NOVEL_FACTOR``).

        >>> Quiet(None).news, Quiet(30 * 3_600_000).news, Quiet(30 * 3_600_000, 20 * 3_600_000).news
        (True, True, False)
        """
        if self.ms is None:
            return True
        return self.ms >= max(NOVEL_AFTER_MS, NOVEL_FACTOR * self.longest_ms)


NOT_NEWS = Quiet(0)


def quiet_key(tenant: str, kind: str, service: str) -> str:
    """Row of when a kind last fired on a service.

    >>> quiet_key("acme", "W-Acc-400", "intranet")
    'acme|q|W-Acc-400@intranet'
    """
    return f"{tenant}|q|{kind}@{service}"


def quiet_for(
    rows: RowAccess, tenant: str, kind: str, service: str, at: int, count: bool = True
) -> Quiet:
    """How long the kind was quiet on the service before an alert at ``at``; the alert is
    counted unless ``count`` is false (a replayed record).

    >>> from app.runtime.state import MemoryRows
    >>> rows, hour = MemoryRows(), 3_600_000
    >>> quiet_for(rows, "t", "k", "s", 0), quiet_for(rows, "t", "k", "s", 30 * 60_000).ms
    (Quiet(ms=None, longest_ms=0), 1800000)
    >>> q = quiet_for(rows, "t", "k", "s", 50 * hour)  # the row says 00:00: refreshed hourly
    >>> q.ms // hour, q.news
    (50, True)
    >>> q = quiet_for(rows, "t", "k", "s", 100 * hour)  # as quiet as before: not news
    >>> q.ms // hour, q.longest_ms // hour, q.news
    (50, 50, False)
    """
    key = quiet_key(tenant, kind, service)
    row = rows.get(key)
    if row is None:
        if count:
            rows.put(key, {"seen": at, "gap": 0, "due": at + KEEP_MS})
        return Quiet(None)
    seen, longest = int(row["seen"]), int(row.get("gap", 0))
    quiet = max(at - seen, 0)
    if count and quiet >= REFRESH_MS:
        rows.put(key, {"seen": at, "gap": max(longest, quiet), "due": at + KEEP_MS})
    return Quiet(quiet, longest)
