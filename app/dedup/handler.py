"""What dedup does with the records of one call, over the rows of their partition.

Dedup reads ``alerts.normalized`` (key ``tenant|fingerprint``) and decides each record with the
pure rules of :mod:`app.dedup.episode` against the fingerprint's row. Per call, in the
partition being handled, it writes: the episodes it touched, the partition's bookkeeping row
(held rows settle in event time: any later record of the partition releases them), aliases for
ids that joined an open episode, expiry buckets (listed once per call), and the episodes of
sources with a ``resolve_timeout`` that timed out (:mod:`app.dedup.timeout`). A ``{"kind":
"tick", "at_ms"}`` record moves the partition's clock when no alert comes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.config import POLICIES, DedupPolicy
from app.dedup import timeout
from app.dedup.episode import Episode, Ticks, decide, only_counted, tick, track
from app.identity import episode_key
from app.records import Alert, epoch_ms
from app.runtime.stage import Record
from app.runtime.state import RowAccess
from tables.expiry import Expiry

EXPIRY = Expiry("\x00dedup")

Listing = tuple[str, int, int | None]  # key, when its row expires, when it did before (listed)
ALIAS = "\x00alias|"  # NUL-led: never an episode key


def alias_key(alert_id: str) -> str:
    """Key of the alias row of an id the bridge handed out."""
    return f"{ALIAS}{alert_id}"


def ticks_key(partition: int) -> str:
    """Key of a partition's bookkeeping row.

    >>> ticks_key(2)
    '\\x00dedup|2'
    """
    return f"\x00dedup|{partition}"


@dataclass
class Deduped:
    """What one call's records came to."""

    outputs: list[Alert] = field(default_factory=list)  # to ``alerts.deduped``, in order
    dropped: int = 0  # re-sends that changed nothing
    held: int = 0  # changes held back while flapping


class Policies:
    """The dedup policy of each source (the API's for a source not configured)."""

    def __init__(self, by_source: Mapping[str, DedupPolicy]) -> None:
        self._by_source = by_source

    def of(self, row: Episode | Alert | dict[str, Any]) -> DedupPolicy:
        """The policy of the source a row or an alert came from."""
        return self._by_source.get(str(row.get("source", "")), POLICIES["api"])

    def expires(self, key: str, row: Any) -> int | None:
        """When a listed row expires: an alias at its due time, an episode when unseen for
        long."""
        if key.startswith(ALIAS):
            return int(row["due"])
        if isinstance(row, dict) and "last_seen" in row:
            return epoch_ms(row["last_seen"]) + self.of(row).expire_after_ms
        return None


def deduplicate(
    rows: RowAccess, partition: int, records: Sequence[Record], policies: Policies
) -> Deduped:
    """Decide every record of one call; what passes is in the result's ``outputs``."""
    out = Deduped()
    bookkeeping = ticks_key(partition)
    ticks: Ticks = rows.get(bookkeeping) or Ticks(due={}, released=[])
    before_ticks = ticks
    now_ms = 0
    listings: list[Listing] = []
    for record in records:
        if record.value.get("kind") == "tick":
            now_ms = max(now_ms, int(record.value["at_ms"]))
            ticks, released, settled = tick(ticks, rows.get, now_ms, record.position, policies.of)
            _release(rows, partition, released, settled, policies, out)
            continue
        alert: Alert = record.value
        policy = policies.of(alert)
        at = epoch_ms(alert["received_at"])
        before: Episode | None = rows.get(record.key)
        before, ended = timeout.timed_out(before, at, policy)
        state, passed = decide(before, alert, record.position, policy)
        if passed is None and ended is None and only_counted(before, state):
            rows.defer(record.key, state)  # a re-send: its count may wait
        else:
            rows.put(record.key, state)
        listings.append(_listing(record.key, state, before, policy))
        if state["alert_id"] != alert["id"]:  # it joined an episode of another id
            listings += _alias(rows, alert, state, policy)
        now_ms = max(now_ms, at)
        ticks = track(ticks, record.key, state, policy)
        ticks, released, settled = tick(ticks, rows.get, now_ms, record.position, policies.of)
        if passed is None and state["held"]:
            out.held += 1
        elif passed is None:
            out.dropped += 1
        own = [one for one in (ended, passed) if one is not None]  # this record's
        _release(rows, partition, released, own + settled, policies, out)
    for key, row, resolve in timeout.sweep(rows, partition, now_ms, policies.of):
        rows.put(key, row)
        out.outputs.append(resolve)
    EXPIRY.schedule_many(rows, partition, listings)
    EXPIRY.sweep(rows, partition, now_ms, policies.expires)
    if ticks != before_ticks:
        rows.put(bookkeeping, ticks)
    return out


def _release(
    rows: RowAccess,
    partition: int,
    released: dict[str, Episode],
    alerts: list[Alert],
    policies: Policies,
    out: Deduped,
) -> None:
    """Write the rows a tick released; pass ``alerts`` on, listing each firing one of a source
    with a ``resolve_timeout`` to be looked at when it would time out."""
    for other, row in released.items():
        rows.put(other, row)
    for alert in alerts:
        policy = policies.of(alert)
        if alert["status"] == "firing" and policy.resolve_timeout_ms:
            key = episode_key(alert["tenant"], alert["fingerprint"])
            due = epoch_ms(alert["received_at"]) + policy.resolve_timeout_ms
            timeout.schedule(rows, partition, key, due)
        out.outputs.append(alert)


def _listing(key: str, state: Episode, before: Episode | None, policy: DedupPolicy) -> Listing:
    """When an episode's row expires, and when it did before this record."""
    due = epoch_ms(state["last_seen"]) + policy.expire_after_ms
    was = None if before is None else epoch_ms(before["last_seen"]) + policy.expire_after_ms
    return key, due, was


def _alias(rows: RowAccess, alert: Alert, state: Episode, policy: DedupPolicy) -> list[Listing]:
    """Remember that the id the bridge handed out for ``alert`` names ``state``'s episode; the
    new alias row's expiry to list (none when it was remembered before)."""
    key = alias_key(alert["id"])
    if rows.get(key) is not None:
        return []
    due = epoch_ms(alert["received_at"]) + policy.expire_after_ms
    rows.put(key, {"alert_id": state["alert_id"], "due": due})
    return [(key, due, None)]
