"""One alert per firing episode; re-sends only count; flapping alerts are held back.

Pure functions over the row the dedup stage keeps per (tenant, fingerprint) — an
:class:`Episode` — and the partition's bookkeeping row (:class:`Ticks`). (About 400 lines: the
episode, its flapping hold and the ticks that release held rows are one state machine.)

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
``received_at`` is past the settle time (:func:`tick`).

Sources that never resolve (``resolve_timeout`` of their policy, :mod:`app.dedup.timeout`): a
firing episode not sent again within the timeout is resolved by dedup, and the next message of
the fingerprint opens a new episode.

Every record passed on carries ``seq`` — how many records of its fingerprint passed, this one
included — so later stages apply each state change of an alert once, whatever path it took or
how often it was replayed, and ``fingerprint_rate``, the decayed count of the fingerprint's
earlier passed records (half-life one hour, on dedup's clock: ``received_at``), for the
scoring model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from app.config import POLICIES, DedupPolicy
from app.config.durations import words
from app.identity import alert_id
from app.records import Alert, epoch_ms

POSITIONS_PER_OFFSET = 1 << 16
# positions a tick's release is kept for, to be sent again on a replay; and how many at most
KEEP_RELEASED = 10_000 * POSITIONS_PER_OFFSET
KEEP_RELEASES = 256
RATE_HALF_LIFE_MS = 3_600_000


_NEW_FIELDS: dict[str, Any] = {
    "changes": [],
    "sent": [],
    "held": 0,
    "pending": None,
    "source": "",
    "passed": 0,
    "rate": [0.0, 0],
    "last": None,
    "timed_out": False,
}


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
    offset: int  # position of the last input record applied to this state
    changes: list[int]  # times (ms) of recent state changes, within the flap window
    sent: list[str]  # [alert id, status] the next stage saw last
    held: int  # state changes held back while flapping
    pending: Alert | None  # the latest alert held back, released when it settles
    source: str  # whose policy applies
    passed: int  # records passed on for the fingerprint, all episodes: the next one's ``seq``
    rate: list[float]  # decayed count of passed records (half-life RATE_HALF_LIFE_MS), last ms
    last: Alert | None  # the firing alert passed last, when the source has a resolve_timeout
    timed_out: bool  # resolved by dedup: no message came within the source's resolve_timeout


class Ticks(TypedDict):
    """What dedup keeps per partition, beside the rows of the fingerprints."""

    due: dict[str, int]  # key of a held row → event time it settles
    released: list[list[Any]]  # [position, alert] released by a tick, sent again on a replay


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
        state = {**_NEW_FIELDS, **state}  # type: ignore[assignment]
        if offset <= state["offset"]:
            return state, _replayed(state, alert)
    return _remember(*_decide(state, alert, offset, policy), policy)


def _remember(
    episode: Episode, passed: Alert | None, policy: DedupPolicy
) -> tuple[Episode, Alert | None]:
    """Keep the firing alert passed last where the source has a ``resolve_timeout``: what dedup
    resolves for want of messages (:mod:`app.dedup.timeout`)."""
    if policy.resolve_timeout_ms and passed is not None and passed["status"] == "firing":
        episode = {**episode, "last": {**passed, "reasons": []}}
    return episode, passed


def _decide(
    state: Episode | None, alert: Alert, offset: int, policy: DedupPolicy
) -> tuple[Episode, Alert | None]:
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
    counters = {name: after[name] for name in COUNTERS if name in after}  # type: ignore[literal-required]
    return after == {**before, **counters}


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
    return _remember(*_settle({**_NEW_FIELDS, **episode}, alert, policy, []), policy)  # type: ignore[typeddict-item]


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
    at = epoch_ms(alert["received_at"])
    rate = decayed(episode["rate"], at)
    episode["sent"] = [alert["id"], alert["status"]]
    episode["passed"] += 1
    episode["rate"] = [round(rate + 1.0, 4), max(at, int(episode["rate"][1]))]
    passed: Alert = {
        **alert,
        "duplicate_count": episode["count"],
        "seq": episode["passed"],
        "fingerprint_rate": round(rate, 4),
    }
    if reasons:
        passed["reasons"] = [*alert["reasons"], *reasons]
    return episode, passed


def decayed(rate: list[float], now_ms: int) -> float:
    """The count of ``rate`` ([count, last ms]) decayed to ``now_ms``.

    >>> decayed([2.0, 0], 3_600_000), decayed([2.0, 10], 0)
    (1.0, 2.0)
    """
    count, last = rate
    return float(count * 0.5 ** (max(now_ms - last, 0) / RATE_HALF_LIFE_MS))


def tick(
    ticks: Ticks,
    read: Callable[[str], Episode | None],
    now_ms: int,
    offset: int,
    policy_of: Callable[[Episode], DedupPolicy],
) -> tuple[Ticks, dict[str, Episode], list[Alert]]:
    """Release every held row of the partition that settled by ``now_ms`` (by the policy of
    its source): the new bookkeeping, the rows to write, the alerts to pass. A replayed offset
    passes its releases again.

    >>> a = {"id": "a1", "status": "firing", "received_at": "2026-01-01T00:00:00Z",
    ...      "reasons": [], "duplicate_count": 1}
    >>> row = {"held": 1, "changes": [0, 60_000, 120_000, 180_000], "pending": a,
    ...        "sent": ["a0", "resolved"], "count": 3, "source": "alertmanager"}
    >>> ticks = {"due": {"t|f": 780_000}, "released": []}
    >>> policy_of = lambda episode: POLICIES[episode["source"]]
    >>> tick(ticks, {"t|f": row}.get, 700_000, 5, policy_of)[2]
    []
    >>> ticks, rows, out = tick(ticks, {"t|f": row}.get, 780_000, 6, policy_of)
    >>> [o["id"] for o in out], rows["t|f"]["held"], ticks["due"]
    (['a1'], 0, {})
    >>> [o["id"] for o in tick(ticks, {}.get, 780_000, 6, policy_of)[2]]  # offset 6 replayed
    ['a1']
    >>> tick(ticks, {}.get, 790_000, 7, policy_of)[0] is ticks  # nothing settled or forgotten
    True
    >>> tick(ticks, {}.get, 790_000, 6 + KEEP_RELEASED, policy_of)[0]["released"]  # forgotten
    []
    """
    again = [alert for at, alert in ticks["released"] if at == offset]
    if again:
        return ticks, {}, again
    ready = [key for key, due in ticks["due"].items() if due <= now_ms]
    kept = [r for r in ticks["released"] if r[0] > offset - KEEP_RELEASED][-KEEP_RELEASES:]
    if not ready and len(kept) == len(ticks["released"]):  # nothing settled or forgotten
        return ticks, {}, []
    rows: dict[str, Episode] = {}
    passed: list[Alert] = []
    for key in ready:
        row = read(key)
        if row is not None:
            rows[key], out = release({**_NEW_FIELDS, **row}, now_ms, policy_of(row))  # type: ignore[typeddict-item]
            passed += [out] if out else []
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
    timed_out = state.get("timed_out", False)
    if timed_out and alert["status"] != "firing":  # the sender's resolve, after dedup's
        return {**alert, "id": state["alert_id"]}, []
    if firing or alert["status"] != "firing":
        return alert, []
    if alert["id"] == state["alert_id"]:
        if not policy.merge_episodes and not timed_out:
            return {**alert, "status": "resolved"}, []  # Alertmanager re-fires with a new startsAt
        # Sentry's "unresolved" names the issue's first sighting, and a message after a timeout
        # is the sender still firing: either way a new episode
        again = alert_id(alert["tenant"], alert["fingerprint"], epoch_ms(alert["received_at"]))
        alert = {**alert, "id": again}
    if timed_out:
        return alert, ["sent again after it was resolved for want of messages: a new episode"]
    return alert, ["fired again after it resolved: a new episode"]


def _fold(state: Episode | None, alert: Alert, offset: int, new_episode: bool) -> Episode:
    seen_at = alert["received_at"]
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
            "changes": state["changes"] if state else [],
            "sent": state["sent"] if state else [],
            "held": state["held"] if state else 0,
            "pending": state["pending"] if state else None,
            "source": alert.get("source", ""),
            "passed": state["passed"] if state else 0,
            "rate": state["rate"] if state else [0.0, 0],
            "last": None,
            "timed_out": False,
        }
    return {
        **state,
        "status": alert["status"],
        "timed_out": state["timed_out"] and alert["status"] == state["status"],
        "last_seen": max(state["last_seen"], seen_at),
        "count": state["count"] + 1,
        "total": state["total"] + 1,
        "offset": offset,
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
        f" {what} until it stays unchanged for {words(policy.settle_ms)}"
    )


def _replayed(state: Episode, alert: Alert) -> Alert:
    """What passes for a replayed message: as it passed the first time, as far as we can tell."""
    renamed = state["sent"][:1] == [state["alert_id"]] != [alert["id"]]
    return {
        **alert,
        "id": state["sent"][0] if renamed else alert["id"],
        "duplicate_count": state["count"],
        "seq": state["passed"],
        "fingerprint_rate": round(decayed(state["rate"], epoch_ms(alert["received_at"])), 4),
    }


def track(ticks: Ticks, key: str, episode: Episode, policy: DedupPolicy) -> Ticks:
    """Note when the row ``key`` settles, or that it holds nothing back any more.

    >>> ticks = {"due": {}, "released": []}
    >>> held = {"held": 1, "pending": {"id": "a"}, "changes": [60_000]}
    >>> track(ticks, "t|f", held, DedupPolicy())["due"]
    {'t|f': 660000}
    >>> track({**ticks, "due": {"t|f": 1}}, "t|f", {"held": 0, "pending": None}, DedupPolicy())
    {'due': {}, 'released': []}
    """
    due = settles_at(episode, policy)
    if ticks["due"].get(key) == due:
        return ticks
    others = {k: v for k, v in ticks["due"].items() if k != key}
    return {**ticks, "due": others if due is None else {**others, key: due}}


def expires_at(episode: Episode, policy: DedupPolicy) -> int:
    """Event time the row is forgotten unless seen again."""
    return epoch_ms(episode["last_seen"]) + policy.expire_after_ms
