"""Stage 2: one alert per firing episode; re-sends only count; flapping alerts are held back.

Alertmanager semantics: the same fingerprint while firing is one alert; a re-send bumps
``duplicate_count`` and ``last_seen``; a change of state (firing → resolved, resolved → firing)
always passes, and a resolved alert that fires again is a new episode with a new id. Sentry
semantics (also for the plain API): the issue — the fingerprint — is the identity, so new events
of an unresolved issue only count, and an event after the issue resolved is a regression that
passes as a new episode.

Flapping: an alert that changes state more than ``flap_changes`` times within ``flap_window``
is held back (nothing passes) until it settles — no change for ``settle`` — and is then
released in its latest state, with the reason in ``reasons``. Release is lazy: it rides on the
next message of the fingerprint (Alertmanager re-sends every ``group_interval``).

Dedup's clock is the alert's ``received_at``, which travels in the record, so a replay decides
as live did. A fingerprint unseen for ``expire_after`` is forgotten (its row is reset when it
comes back, and swept from the table). Policies per source come from the ``dedup:`` key of
the ``ALERTFLOW_CONFIG`` file::

    dedup:
      default: {flap_changes: 4, flap_window: 30m, settle: 10m, expire_after: 7d}
      sentry:  {settle: 1h}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypedDict

import faust
import yaml

from agents.stage import run_stage
from app import metrics, topics
from app.faust_app import app
from app.identity import alert_id
from app.records import Alert, epoch_ms
from app.routes import RouteError, parse_duration
from tables.dedup import dedup as dedup_table

SWEEP_EVERY = 5000  # messages between two sweeps of expired rows


@dataclass(frozen=True)
class DedupPolicy:
    """How one source's alerts are deduplicated (durations in milliseconds)."""

    flap_changes: int = 3
    flap_window_ms: int = 20 * 60_000
    settle_ms: int = 10 * 60_000
    expire_after_ms: int = 7 * 86_400_000
    merge_episodes: bool = False  # the fingerprint, not the start time, is the episode

    def describe_window(self) -> str:
        """The flap window in words."""
        return _words(self.flap_window_ms)


POLICIES: dict[str, DedupPolicy] = {
    "alertmanager": DedupPolicy(),
    "sentry": DedupPolicy(merge_episodes=True),
    "api": DedupPolicy(merge_episodes=True),
}


_NEW_FIELDS = {"partition": -1, "changes": [], "sent": [], "held": 0}  # rows of older versions


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
            return episode, None
        alert = {**alert, "id": episode["sent"][0]}  # a resolve is never held back
        reasons.append(_flap_words(episode, policy, "resolved; re-fires are held back"))
    elif episode["held"] and not changed:  # settled
        reasons.append(_flap_words(episode, policy, f"{episode['held']} changes were held back"))
        episode = {**episode, "held": 0, "changes": []}
        if alert["status"] == "resolved" and episode["sent"][1:] == ["resolved"]:
            return episode, None  # settled as the next stage already knows it: resolved
    if episode["sent"] == [alert["id"], alert["status"]]:
        return episode, None
    episode["sent"] = [alert["id"], alert["status"]]
    passed: Alert = {**alert, "duplicate_count": episode["count"]}
    if reasons:
        passed["reasons"] = [*alert["reasons"], *reasons]
    return episode, passed


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
        # Sentry's "unresolved" names the first sighting: a regression, a new episode
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
        }
    return {
        **state,
        "status": alert["status"],
        "last_seen": max(state["last_seen"], seen_at),
        "count": state["count"] + 1,
        "total": state["total"] + 1,
        "offset": offset,
        "partition": partition,
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


def _words(ms: int) -> str:
    """A duration in words.

    >>> _words(90_000), _words(1_800_000), _words(7_200_000)
    ('90s', '30m', '2h')
    """
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms // 1000}s"


def table_key(tenant: str, fingerprint: str) -> str:
    """Fingerprints are per tenant; the stream (and so the partition) is keyed by fingerprint."""
    return f"{tenant}|{fingerprint}"


def load_policies(path: Path | None) -> dict[str, DedupPolicy]:
    """The per-source policies, with the ``dedup:`` key of the YAML file at ``path`` applied.

    >>> load_policies(None)["sentry"].merge_episodes
    True
    """
    policies = dict(POLICIES)
    if path is None:
        return policies
    document = yaml.safe_load(path.read_text()) or {}
    section = document.get("dedup") if isinstance(document, dict) else None
    if section is None:
        return policies
    if not isinstance(section, dict):
        raise RouteError("dedup: expected a mapping of source to policy")
    default = _policy(section.get("default", {}), "dedup.default", DedupPolicy())
    for source in ("alertmanager", "sentry", "api"):
        base = replace(default, merge_episodes=POLICIES[source].merge_episodes)
        policies[source] = _policy(section.get(source, {}), f"dedup.{source}", base)
    unknown = set(section) - {"default", *POLICIES}
    if unknown:
        raise RouteError(f"dedup: unknown source {sorted(unknown)[0]!r}")
    return policies


def _policy(spec: Any, path: str, base: DedupPolicy) -> DedupPolicy:
    if not isinstance(spec, dict):
        raise RouteError(f"{path}: expected a mapping")
    changes: dict[str, Any] = {}
    for key, value in spec.items():
        if key in ("flap_window", "settle", "expire_after"):
            changes[f"{key}_ms"] = parse_duration(value, f"{path}.{key}")
        elif key == "flap_changes":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RouteError(f"{path}.flap_changes: expected a whole number ≥ 1")
            changes[key] = value
        elif key == "merge_episodes":
            if not isinstance(value, bool):
                raise RouteError(f"{path}.merge_episodes: expected true or false")
            changes[key] = value
        else:
            raise RouteError(f"{path}: unknown key {key!r}")
    return replace(base, **changes)


def _partition() -> int:
    event = faust.current_event()
    return event.message.partition if event is not None else -1


_config = os.environ.get("ALERTFLOW_CONFIG")
_policies = load_policies(Path(_config) if _config else None)
_seen = 0


async def _dedup(fingerprint: str, alert: Alert) -> None:
    global _seen
    key = table_key(alert["tenant"], fingerprint)
    offset = faust.current_event().message.offset
    policy = _policies.get(alert["source"], POLICIES["api"])
    state, passed = decide(dedup_table.get(key), alert, offset, policy)
    dedup_table[key] = state
    _seen += 1
    if _seen % SWEEP_EVERY == 0:
        _sweep(state["partition"], epoch_ms(alert["received_at"]))
    if passed is None:
        metrics.suppressions_processed.labels("flapping" if state["held"] else "duplicate").inc()
        return
    await topics.deduped.send(
        key=passed["tenant"], value=passed, timestamp=epoch_ms(passed["starts_at"]) / 1000
    )


def _sweep(partition: int, now_ms: int) -> None:
    """Delete the rows of this event's partition unseen for longer than their expiry.

    Deleting inside the event keeps each tombstone in the partition of its row.
    """
    longest = max(policy.expire_after_ms for policy in _policies.values())
    expired = [
        key
        for key, row in dedup_table.items()
        if row.get("partition") == partition and now_ms - epoch_ms(row["last_seen"]) > longest
    ]
    for key in expired:
        del dedup_table[key]


@app.agent(topics.normalized, concurrency=1)
async def dedup(stream: faust.StreamT[Any]) -> None:
    """Drop re-sends of an alert that did not change state; hold flapping alerts back."""
    await run_stage("dedup", stream, _dedup)
