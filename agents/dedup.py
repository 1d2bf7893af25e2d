"""Stage 2: one alert per firing episode; re-sends only count; flapping alerts are held back.

Alertmanager semantics: the same fingerprint while firing is one alert; a re-send bumps
``duplicate_count`` and ``last_seen``; a change of state (firing → resolved, resolved → firing)
always passes, and a resolved alert that fires again is a new episode with a new id. Sentry
semantics (also for the plain API): the issue — the fingerprint — is the identity, so new events
of an unresolved issue only count, and an event after the issue resolved is a regression that
passes as a new episode.

Flapping: an alert that changes state more than ``flap_changes`` times within ``flap_window``
is held back (nothing passes) until it settles — no change for ``settle`` — and is then
released in its latest state, with the reason in ``reasons``. Release rides on event time: the
next message of the fingerprint, or any later message of the same partition whose
``received_at`` is past the settle time (:func:`tick`), so an alert that settles firing and is
never re-sent is released too.

Dedup's clock is the alert's ``received_at``, which travels in the record, so a replay decides
as live did. A fingerprint unseen for ``expire_after`` is forgotten (its row is reset when it
comes back, and deleted from the table). Each partition keeps one bookkeeping row (held rows
and when they settle, recent releases, the sweep position) and hourly expiry buckets, all
written in that partition; each message sweeps the buckets whose hour has passed, so expiry
costs a few rows at a time instead of a scan of the table. Policies per source come from the
``dedup:`` key of the configuration (:mod:`app.config.dedup`)::

    dedup:
      default: {flap_changes: 4, flap_window: 30m, settle: 10m, expire_after: 7d}
      sentry:  {settle: 1h}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import faust

from agents.stage import POSITIONS_PER_OFFSET, emit, origin, run_stage
from app import metrics, topics
from app.config import POLICIES, DedupPolicy, load_config
from app.config.durations import words as _words
from app.faust_app import app
from app.identity import alert_id
from app.records import Alert, epoch_ms
from tables.dedup import dedup_rows as dedup_table

HOUR_MS = 3_600_000
SWEEP_HOURS = 48  # expiry buckets looked at per message at most
BUCKET_CHUNK = 64  # keys per row of an expiry bucket
# positions (see agents.stage.Origin) a tick's release is kept for, to be sent again on a replay
KEEP_RELEASED = 10_000 * POSITIONS_PER_OFFSET


_NEW_FIELDS = {"partition": -1, "changes": [], "sent": [], "held": 0, "pending": None, "source": ""}


class Episode(TypedDict):
    """What the dedup table keeps per (tenant, fingerprint)."""

    alert_id: str
    status: str
    since: str  # first sighting of the fingerprint, any episode
    first_seen: str
    last_seen: str
    count: int  # sightings of this episode
    total: int  # sightings of the fingerprint, all episodes
    episodes: int
    offset: int  # offset of the last input message applied to this state
    partition: int  # partition of the stream (and changelog) this row lives in
    changes: list[int]  # times (ms) of recent state changes, within the flap window
    sent: list[str]  # [alert id, status] the next stage saw last
    held: int  # state changes held back while flapping
    pending: Alert | None  # the latest alert held back, released when it settles
    source: str  # whose policy applies


class Ticks(TypedDict):
    """What dedup keeps per partition, beside the rows of the fingerprints."""

    due: dict[str, int]  # key of a held row → event time it settles
    released: list[list[Any]]  # [offset, alert] released by a tick, sent again on a replay
    swept: int  # expiry buckets up to this hour are swept


def decide(
    state: Episode | None, alert: Alert, offset: int, policy: DedupPolicy = POLICIES["api"]
) -> tuple[Episode, Alert | None]:
    """Return the new state and the alert to pass on, or ``None`` when nothing passes.

    A message at or before ``state["offset"]`` is a replay after a crash (its offset was not
    committed): the state already holds it, but its output may never have reached Kafka, so it
    passes again — a duplicate downstream, never a loss.

    >>> a = {"id": "a1", "tenant": "t", "fingerprint": "f", "status": "firing",
    ...      "received_at": "2026-01-01T00:00:00Z", "duplicate_count": 1, "reasons": []}
    >>> state, out = decide(None, a, offset=10)
    >>> out["id"], out["duplicate_count"], state["count"]
    ('a1', 1, 1)
    >>> state, out = decide(state, {**a, "received_at": "2026-01-01T00:05:00Z"}, offset=11)
    >>> out, state["count"], state["last_seen"]
    (None, 2, '2026-01-01T00:05:00Z')
    >>> decide(state, a, offset=10)[1]["id"]  # replay of offset 10 after a crash
    'a1'
    >>> resolved = {**a, "status": "resolved", "received_at": "2026-01-01T00:06:00Z"}
    >>> state, out = decide(state, resolved, offset=12)
    >>> out["duplicate_count"], state["status"]
    (3, 'resolved')
    >>> refire = {**a, "received_at": "2026-01-01T00:07:00Z"}  # same id: a regression
    >>> state, out = decide(state, refire, offset=13)
    >>> out["id"] != "a1", state["episodes"], out["reasons"]
    (True, 2, ['fired again after it resolved: a new episode'])
    """
    if state is not None:
        state = {**_NEW_FIELDS, **state}  # type: ignore[typeddict-item]
        if offset <= state["offset"]:
            return state, _replayed(state, alert)
    at = epoch_ms(alert["received_at"])
    if state is not None and at - epoch_ms(state["last_seen"]) > policy.expire_after_ms:
        state = None  # forgotten: a fresh start
    alert, reasons = _identify(state, alert, policy)
    new_episode = state is None or state["alert_id"] != alert["id"]
    changed = new_episode or state is None or state["status"] != alert["status"]
    episode = _fold(state, alert, offset, new_episode)
    if changed:
        window_start = at - policy.flap_window_ms
        recent = [t for t in episode["changes"] if t > window_start][-64:]
        episode["changes"] = [*recent, at]
    if _flapping(episode, at, changed, policy):
        if alert["status"] == "firing" or episode["sent"][1:] != ["firing"]:
            episode["held"] += int(changed)
            episode["pending"] = alert
            return episode, None
        alert = {**alert, "id": episode["sent"][0]}  # a resolve is never held back
        reasons.append(_flap_words(episode, policy, "resolved; re-fires are held back"))
        episode["pending"] = None
    elif episode["held"] and not changed:
        return _settle(episode, alert, policy, reasons)
    return _pass(episode, alert, reasons)


COUNTERS = frozenset(("count", "total", "last_seen", "offset"))


def only_counted(before: Episode | None, after: Episode) -> bool:
    """Whether ``after`` differs from ``before`` in its counters only: a re-send was counted.

    >>> row = {"alert_id": "a1", "status": "firing", "count": 1, "last_seen": "T1", "offset": 4}
    >>> only_counted(row, {**row, "count": 2, "last_seen": "T2", "offset": 9})
    True
    >>> only_counted(row, {**row, "count": 2, "status": "resolved"}), only_counted(None, row)
    (False, False)
    """
    if before is None or before.keys() != after.keys():
        return False
    return all(before[k] == v for k, v in after.items() if k not in COUNTERS)  # type: ignore[literal-required]


def release(
    episode: Episode, now_ms: int, policy: DedupPolicy = POLICIES["api"]
) -> tuple[Episode, Alert | None]:
    """Release a held alert once ``now_ms`` (event time of any later message) is past its
    settle time; ``None`` when it is not due or the next stage already knows its state.

    >>> a = {"id": "a1", "status": "firing", "received_at": "2026-01-01T00:00:00Z",
    ...      "reasons": [], "duplicate_count": 1}
    >>> held = {"held": 2, "changes": [0, 60_000, 120_000, 180_000], "pending": a,
    ...         "sent": ["a0", "resolved"], "count": 3}
    >>> release(held, 600_000)[1] is None  # seven minutes after the last change: not yet
    True
    >>> episode, out = release(held, 780_000)
    >>> out["id"], out["reasons"][0][:40], episode["held"], episode["pending"]
    ('a1', 'flapping: 4 state changes within 20m; 2 ', 0, None)
    """
    alert = episode["pending"]
    if alert is None or not episode["held"] or settles_at(episode, policy) > now_ms:  # type: ignore[operator]
        return episode, None
    return _settle({**episode}, alert, policy, [])


def settles_at(episode: Episode, policy: DedupPolicy) -> int | None:
    """Event time a held alert settles, if one is held."""
    if not episode.get("held") or not episode.get("pending"):
        return None
    return episode["changes"][-1] + policy.settle_ms


def _settle(
    episode: Episode, alert: Alert, policy: DedupPolicy, reasons: list[str]
) -> tuple[Episode, Alert | None]:
    """The alert in its settled state, with why it was held back (and how many changes, in the
    additive field ``held_changes``, for the correlation stage)."""
    held = episode["held"]
    reasons.append(_flap_words(episode, policy, f"{held} changes were held back"))
    episode = {**episode, "held": 0, "changes": [], "pending": None}
    if alert["status"] == "resolved" and episode["sent"][1:] == ["resolved"]:
        return episode, None  # settled as the next stage already knows it: resolved
    alert = {**alert, "held_changes": held}
    return _pass(episode, alert, reasons)


def _pass(episode: Episode, alert: Alert, reasons: list[str]) -> tuple[Episode, Alert | None]:
    if episode["sent"] == [alert["id"], alert["status"]]:
        return episode, None
    episode["sent"] = [alert["id"], alert["status"]]
    passed: Alert = {**alert, "duplicate_count": episode["count"]}
    if reasons:
        passed["reasons"] = [*alert["reasons"], *reasons]
    return episode, passed


def tick(
    ticks: Ticks,
    read: Callable[[str], Episode | None],
    now_ms: int,
    offset: int,
    policies: dict[str, DedupPolicy],
) -> tuple[Ticks, dict[str, Episode], list[Alert]]:
    """Release every held row of the partition that settled by ``now_ms``: the new bookkeeping,
    the rows to write, the alerts to pass. A replayed offset passes its releases again.

    >>> a = {"id": "a1", "status": "firing", "received_at": "2026-01-01T00:00:00Z",
    ...      "reasons": [], "duplicate_count": 1}
    >>> row = {"held": 1, "changes": [0, 60_000, 120_000, 180_000], "pending": a,
    ...        "sent": ["a0", "resolved"], "count": 3, "source": "alertmanager"}
    >>> ticks = {"due": {"t|f": 780_000}, "released": [], "swept": -1}
    >>> tick(ticks, {"t|f": row}.get, 700_000, 5, POLICIES)[2]
    []
    >>> ticks, rows, out = tick(ticks, {"t|f": row}.get, 780_000, 6, POLICIES)
    >>> [o["id"] for o in out], rows["t|f"]["held"], ticks["due"]
    (['a1'], 0, {})
    >>> [o["id"] for o in tick(ticks, {}.get, 780_000, 6, POLICIES)[2]]  # offset 6 replayed
    ['a1']
    """
    again = [alert for at, alert in ticks["released"] if at == offset]
    if again:
        return ticks, {}, again
    rows: dict[str, Episode] = {}
    passed: list[Alert] = []
    for key in [k for k, due in ticks["due"].items() if due <= now_ms]:
        row = read(key)
        if row is not None:
            policy = policies.get(row.get("source", ""), POLICIES["api"])
            rows[key], out = release({**_NEW_FIELDS, **row}, now_ms, policy)  # type: ignore[typeddict-item]
            passed += [out] if out else []
    kept = [r for r in ticks["released"] if r[0] > offset - KEEP_RELEASED]
    return (
        {
            **ticks,
            "due": {k: v for k, v in ticks["due"].items() if v > now_ms},
            "released": [*kept, *([offset, alert] for alert in passed)],
        },
        rows,
        passed,
    )


def _identify(state: Episode | None, alert: Alert, policy: DedupPolicy) -> tuple[Alert, list[str]]:
    """The alert under the id of the episode it belongs to, and why it was renamed."""
    if state is None:
        return alert, []
    firing = state["status"] == "firing"
    if policy.merge_episodes and firing and alert["id"] != state["alert_id"]:
        return {**alert, "id": state["alert_id"]}, []  # an event of the open issue
    if firing or alert["status"] != "firing":
        return alert, []
    if alert["id"] == state["alert_id"]:
        if not policy.merge_episodes:  # Alertmanager re-fires with a new startsAt: a late re-send
            return {**alert, "status": "resolved"}, []
        # Sentry's "unresolved" names the issue's first sighting: a regression, a new episode
        again = alert_id(alert["tenant"], alert["fingerprint"], epoch_ms(alert["received_at"]))
        alert = {**alert, "id": again}
    return alert, ["fired again after it resolved: a new episode"]


def _fold(state: Episode | None, alert: Alert, offset: int, new_episode: bool) -> Episode:
    seen_at = alert["received_at"]
    partition = _partition()
    if state is None or new_episode:
        return {
            "alert_id": alert["id"],
            "status": alert["status"],
            "since": state["since"] if state else seen_at,
            "first_seen": seen_at,
            "last_seen": seen_at,
            "count": 1,
            "total": (state["total"] if state else 0) + 1,
            "episodes": (state["episodes"] if state else 0) + 1,
            "offset": offset,
            "partition": partition,
            "changes": state["changes"] if state else [],
            "sent": state["sent"] if state else [],
            "held": state["held"] if state else 0,
            "pending": state["pending"] if state else None,
            "source": alert.get("source", ""),
        }
    return {
        **state,
        "status": alert["status"],
        "last_seen": max(state["last_seen"], seen_at),
        "count": state["count"] + 1,
        "total": state["total"] + 1,
        "offset": offset,
        "partition": partition,
        "source": alert.get("source", ""),
    }


def _flapping(episode: Episode, at: int, changed: bool, policy: DedupPolicy) -> bool:
    """Held back: too many recent changes, and not quiet for ``settle`` since the last one."""
    if len(episode["changes"]) <= policy.flap_changes:
        return False
    last_change = episode["changes"][-2 if changed else -1]
    return changed or at - last_change < policy.settle_ms


def _flap_words(episode: Episode, policy: DedupPolicy, what: str) -> str:
    return (
        f"flapping: {len(episode['changes'])} state changes within {policy.describe_window()};"
        f" {what} until it stays unchanged for {_words(policy.settle_ms)}"
    )


def _replayed(state: Episode, alert: Alert) -> Alert:
    """What passes for a replayed message: as it passed the first time, as far as we can tell."""
    renamed = state["sent"][:1] == [state["alert_id"]] != [alert["id"]]
    return {
        **alert,
        "id": state["sent"][0] if renamed else alert["id"],
        "duplicate_count": state["count"],
    }


def table_key(tenant: str, fingerprint: str) -> str:
    """Fingerprints are per tenant; the stream (and so the partition) is keyed by fingerprint."""
    return f"{tenant}|{fingerprint}"


def _partition() -> int:
    event = faust.current_event()
    return event.message.partition if event is not None else -1


def track(ticks: Ticks, key: str, episode: Episode, policy: DedupPolicy) -> Ticks:
    """Note when the row ``key`` settles, or that it holds nothing back any more.

    >>> ticks = {"due": {}, "released": [], "swept": -1}
    >>> held = {"held": 1, "pending": {"id": "a"}, "changes": [60_000]}
    >>> track(ticks, "t|f", held, DedupPolicy())["due"]
    {'t|f': 660000}
    >>> track({**ticks, "due": {"t|f": 1}}, "t|f", {"held": 0, "pending": None}, DedupPolicy())
    {'due': {}, 'released': [], 'swept': -1}
    """
    due = settles_at(episode, policy)
    if ticks["due"].get(key) == due:
        return ticks
    others = {k: v for k, v in ticks["due"].items() if k != key}
    return {**ticks, "due": others if due is None else {**others, key: due}}


def expires_at(episode: Episode, policy: DedupPolicy) -> int:
    """Event time the row is forgotten unless seen again."""
    return epoch_ms(episode["last_seen"]) + policy.expire_after_ms


def ticks_key(partition: int, hour: int | None = None) -> str:
    """Key of a partition's bookkeeping row, or of its expiry bucket for ``hour``; the NUL
    keeps them apart from ``tenant|fingerprint`` keys.

    >>> ticks_key(2), ticks_key(2, 493_000)
    ('\\x00dedup|2', '\\x00dedup|2|493000')
    """
    return f"\x00dedup|{partition}" + ("" if hour is None else f"|{hour}")


_policies = load_config().dedup


def _policy_of(row: Episode | dict[str, Any]) -> DedupPolicy:
    return _policies.get(row.get("source", ""), POLICIES["api"])


async def _dedup(fingerprint: str, alert: Alert) -> None:
    key = table_key(alert["tenant"], fingerprint)
    where = origin()
    offset, partition = where.position, where.partition
    policy = _policy_of(alert)  # type: ignore[arg-type]
    before = dedup_table.get(key)
    state, passed = decide(before, alert, offset, policy)
    if passed is None and only_counted(before, state):
        dedup_table.defer(key, state)  # a re-send: losing its count in a crash is harmless
    else:
        dedup_table[key] = state
    now_ms = epoch_ms(alert["received_at"])
    _expire_in_bucket(partition, key, state, before, policy)
    ticks: Ticks = dedup_table.get(ticks_key(partition)) or {"due": {}, "released": [], "swept": -1}
    after = track(ticks, key, state, policy)
    after, released, outputs = tick(after, dedup_table.get, now_ms, offset, _policies)
    for other, row in released.items():
        dedup_table[other] = row
    after = _sweep(after, partition, now_ms)
    if after != ticks:
        dedup_table[ticks_key(partition)] = after
    if passed is None:
        metrics.suppressions_processed.labels("flapping" if state["held"] else "duplicate").inc()
    for out in ([passed] if passed else []) + outputs:
        await emit(topics.deduped, out["tenant"], out, epoch_ms(out["starts_at"]) / 1000)


def _expire_in_bucket(
    partition: int, key: str, state: Episode, before: Episode | None, policy: DedupPolicy
) -> None:
    """List the row in the expiry bucket of its hour, when that hour changed.

    A bucket is a count of the keys listed and chunks of ``BUCKET_CHUNK`` keys, so listing a
    key rewrites a short row, not the whole hour's list.
    """
    hour = expires_at(state, policy) // HOUR_MS
    if (
        before is not None
        and "last_seen" in before
        and expires_at(before, policy) // HOUR_MS == hour
    ):
        return
    bucket = ticks_key(partition, hour)
    count = dedup_table.get(bucket)
    if isinstance(count, list):  # a bucket of a version that kept one list: stays as it is
        return
    count = count or 0
    chunk = f"{bucket}|{count // BUCKET_CHUNK}"
    dedup_table[chunk] = [*(dedup_table.get(chunk) or []), key]
    dedup_table[bucket] = count + 1


def _sweep(ticks: Ticks, partition: int, now_ms: int) -> Ticks:
    """Delete the rows listed in the expiry buckets of the hours that passed, if still expired.

    Deleting inside the event keeps each tombstone in the partition of its row. A partition
    swept for the first time is scanned once, for rows of versions without buckets.
    """
    hour = now_ms // HOUR_MS
    if ticks["swept"] < 0:
        _sweep_all(partition, now_ms)
        return {**ticks, "swept": hour - 1}
    stop = min(hour - 1, ticks["swept"] + SWEEP_HOURS)
    for passed in range(ticks["swept"] + 1, stop + 1):
        bucket = ticks_key(partition, passed)
        for key in _bucket_keys(bucket):
            row = dedup_table.get(key)
            if row is not None and expires_at(row, _policy_of(row)) < now_ms:
                del dedup_table[key]
        dedup_table.pop(bucket, None)
    return {**ticks, "swept": max(ticks["swept"], stop)}


def _bucket_keys(bucket: str) -> list[str]:
    """The keys listed in an expiry bucket; its chunks are deleted on the way."""
    count = dedup_table.get(bucket)
    if isinstance(count, list):
        return count
    keys: list[str] = []
    for chunk in range(-(-(count or 0) // BUCKET_CHUNK)):
        keys.extend(dedup_table.pop(f"{bucket}|{chunk}", None) or [])
    return keys


def _sweep_all(partition: int, now_ms: int) -> None:
    longest = max(policy.expire_after_ms for policy in _policies.values())
    expired = [
        key
        for key, row in dedup_table.items()
        if isinstance(row, dict)
        and row.get("partition") == partition
        and "last_seen" in row
        and now_ms - epoch_ms(row["last_seen"]) > longest
    ]
    for key in expired:
        del dedup_table[key]


@app.agent(topics.normalized, concurrency=1)
async def dedup(stream: faust.StreamT[Any]) -> None:
    """Drop re-sends of an alert that did not change state; hold flapping alerts back."""
    await run_stage("dedup", stream, _dedup)
