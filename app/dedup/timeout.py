"""Episodes of sources that never resolve: Alertmanager's ``resolve_timeout``, per source.

An alert posted to ``/api/v1/alerts`` without a resolve would stay one open episode for good:
every later message with the same labels only counts, days later too. Like Alertmanager, which
resolves an alert not sent again within ``resolve_timeout``, dedup resolves a firing episode
of a source whose policy has a ``resolve_timeout`` (the API's by default:
``global.resolve_timeout``, 5 minutes; off for Alertmanager and Sentry, whose alerts resolve
themselves) once no message of it came for that long, in event time (dedup's clock, the
``received_at`` of the partition's messages):

- a message of a timed-out episode first passes the resolve of the old episode (its end: the
  last message plus the timeout), then opens a new episode (:func:`timed_out` before
  :func:`app.dedup.episode.decide`);
- an episode that never gets another message is resolved by a sweep as the partition's clock
  passes its end (:func:`sweep`): each firing episode is listed in a bucket of the minute it
  would end (:data:`TIMEOUTS`), and one still sent to when its minute passes is listed again
  for its new end — never a scan, and nothing done per re-send. Ticks keep the clock moving on
  a quiet partition.

The resolve carries the episode's firing alert (kept in the row: ``last``) with
``status: resolved``, ``ends_at`` the moment it timed out and the reason in words. It is not a
change the sender made: it does not count towards flapping.
"""

from __future__ import annotations

from collections.abc import Callable

from app.config import DedupPolicy
from app.config.durations import words
from app.dedup.episode import Episode, _pass
from app.records import Alert, epoch_ms, ms_time
from app.runtime.state import RowAccess
from tables.expiry import Expiry

MINUTE_MS = 60_000
TIMEOUTS = Expiry("\x00timeout", bucket_ms=MINUTE_MS, per_call=24 * 60)

Resolved = tuple[str, Episode, Alert]  # (row key, episode after, the resolve to pass on)


def ends_at(episode: Episode, policy: DedupPolicy) -> int | None:
    """Event time a firing episode times out, or ``None`` when it cannot (no timeout for its
    source, not firing, held back while flapping, or the next stage does not know it firing).

    >>> row = {"status": "firing", "last_seen": "2026-01-01T00:00:00Z", "held": 0,
    ...        "alert_id": "a", "sent": ["a", "firing"], "last": {"id": "a"}}
    >>> ends_at(row, DedupPolicy(resolve_timeout_ms=300_000)) - epoch_ms(row["last_seen"])
    300000
    >>> ends_at(row, DedupPolicy()), ends_at({**row, "held": 1}, DedupPolicy(resolve_timeout_ms=1))
    (None, None)
    """
    if not policy.resolve_timeout_ms or episode.get("last") is None or episode.get("held"):
        return None
    if episode["status"] != "firing" or episode["sent"] != [episode["alert_id"], "firing"]:
        return None
    return epoch_ms(episode["last_seen"]) + policy.resolve_timeout_ms


def timed_out(
    episode: Episode | None, now_ms: int, policy: DedupPolicy
) -> tuple[Episode | None, Alert | None]:
    """The episode resolved and the resolve to pass on when ``now_ms`` is past its end;
    else the episode unchanged and ``None``.

    >>> last = {"id": "a", "tenant": "t", "fingerprint": "f", "status": "firing",
    ...         "received_at": "2026-01-01T00:00:00Z", "ends_at": None, "reasons": []}
    >>> row = {"status": "firing", "last_seen": "2026-01-01T00:01:00Z", "held": 0, "count": 4,
    ...        "alert_id": "a", "sent": ["a", "firing"], "last": last, "passed": 1,
    ...        "rate": [1.0, 0], "timed_out": False}
    >>> policy = DedupPolicy(resolve_timeout_ms=300_000)
    >>> timed_out(row, epoch_ms("2026-01-01T00:06:00Z"), policy)[1] is None  # not past it yet
    True
    >>> row, out = timed_out(row, epoch_ms("2026-01-01T00:06:01Z"), policy)
    >>> out["status"], out["ends_at"], out["seq"], out["duplicate_count"], row["timed_out"]
    ('resolved', '2026-01-01T00:06:00.000Z', 2, 4, True)
    >>> out["reasons"]
    ['no message for 5m (the resolve_timeout of its source): resolved']
    """
    end = None if episode is None else ends_at(episode, policy)
    if episode is None or end is None or now_ms <= end:
        return episode, None
    last: Alert = episode["last"]  # type: ignore[assignment]
    at = ms_time(end)
    resolve: Alert = {**last, "status": "resolved", "ends_at": at, "received_at": at}
    why = f"no message for {words(policy.resolve_timeout_ms)} (the resolve_timeout of its source)"
    after: Episode = {**episode, "status": "resolved", "timed_out": True}
    return _pass(after, resolve, [f"{why}: resolved"])


def schedule(rows: RowAccess, partition: int, key: str, due_ms: int) -> None:
    """List the episode ``key`` to be looked at once ``due_ms`` (its end) passed (in the first
    bucket not swept yet when that one is earlier, as :meth:`Expiry.schedule` does)."""
    TIMEOUTS.schedule(rows, partition, key, due_ms, None)


def sweep(
    rows: RowAccess,
    partition: int,
    now_ms: int,
    policy_of: Callable[[Episode], DedupPolicy],
) -> list[Resolved]:
    """Resolve the partition's listed episodes that ended by ``now_ms``; those still sent to
    are listed again for their new end. The rows and resolves are the caller's to write and
    pass on.

    >>> from app.runtime.state import MemoryRows
    >>> rows, policy = MemoryRows(), DedupPolicy(resolve_timeout_ms=300_000)
    >>> last = {"id": "a", "tenant": "t", "fingerprint": "f", "status": "firing",
    ...         "received_at": "2026-01-01T00:00:00Z", "ends_at": None, "reasons": []}
    >>> rows.put("t|f", {"status": "firing", "last_seen": "2026-01-01T00:00:00Z", "held": 0,
    ...     "count": 1, "alert_id": "a", "sent": ["a", "firing"], "last": last, "passed": 1,
    ...     "rate": [1.0, 0], "timed_out": False})
    >>> t0 = epoch_ms("2026-01-01T00:00:00Z")
    >>> sweep(rows, 0, t0, lambda row: policy)  # the partition's clock starts
    []
    >>> schedule(rows, 0, "t|f", t0 + 300_000)
    >>> rows.put("t|f", {**rows.get("t|f"), "last_seen": "2026-01-01T00:04:00Z"})  # sent again
    >>> sweep(rows, 0, t0 + 360_000, lambda row: policy)  # listed again for 00:09
    []
    >>> [(key, out["ends_at"]) for key, _, out in sweep(rows, 0, t0 + 600_000, lambda r: policy)]
    [('t|f', '2026-01-01T00:09:00.000Z')]
    """
    resolved: list[Resolved] = []
    for key in TIMEOUTS.take(rows, partition, now_ms):
        episode: Episode | None = rows.get(key)
        if episode is None:
            continue
        policy = policy_of(episode)
        after, out = timed_out(episode, now_ms, policy)
        if out is not None and after is not None:
            resolved.append((key, after, out))
        elif (end := ends_at(episode, policy)) is not None:
            schedule(rows, partition, key, end)
    return resolved
