"""Dedup rules on real payloads: re-sends, state changes, episodes, Sentry issues, flapping,
replays, expiry and per-source policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.dedup import POLICIES, DedupPolicy, Ticks, decide, tick, track
from app.config import ConfigError, load_config
from app.records import Alert, epoch_ms
from app.sources import normalize, split_alertmanager, split_sentry_webhook

FIXTURES = Path(__file__).resolve().parents[2] / "shared/fixtures"
AM = POLICIES["alertmanager"]


def _am(status: str, received_at: str, starts_at: str | None = None) -> Alert:
    body = json.loads((FIXTURES / "alertmanager/am-0.25-firing-2-alerts.json").read_bytes())
    alert = {**body["alerts"][0], "status": status}
    if starts_at:
        alert["startsAt"] = starts_at
    if status == "resolved":
        alert["endsAt"] = received_at
    raw = split_alertmanager(
        json.dumps({**body, "alerts": [alert]}).encode(), tenant="t", received_at=received_at
    )
    return normalize(raw[0])


def _sentry(action: str, received_at: str, **issue: Any) -> Alert:
    body = json.loads((FIXTURES / "sentry-webhooks/issue-created.json").read_bytes())
    body["action"] = action
    body["data"]["issue"].update(issue)
    raw = split_sentry_webhook(
        json.dumps(body).encode(), resource="issue", tenant="t", received_at=received_at
    )
    return normalize(raw[0])


class Feed:
    """Feeds alerts through ``decide`` with increasing offsets, like the agent."""

    def __init__(self, policy: DedupPolicy = AM) -> None:
        self.state: Any = None
        self.offset = 0
        self.policy = policy

    def __call__(self, alert: Alert) -> Alert | None:
        self.offset += 1
        self.state, out = decide(self.state, alert, self.offset, self.policy)
        return out


def test_resends_while_firing_only_count() -> None:
    feed = Feed()
    first = feed(_am("firing", "2026-11-23T07:00:00Z"))
    assert first is not None and first["duplicate_count"] == 1
    for minute in (5, 10, 15):
        assert feed(_am("firing", f"2026-11-23T07:{minute:02}:00Z")) is None
    assert feed.state["count"] == 4 and feed.state["last_seen"] == "2026-11-23T07:15:00Z"


def test_state_changes_pass_and_a_refire_is_a_new_episode() -> None:
    feed = Feed()
    firing = feed(_am("firing", "2026-11-23T07:00:00Z"))
    resolved = feed(_am("resolved", "2026-11-23T07:20:00Z"))
    assert resolved is not None and resolved["id"] == firing["id"]
    assert feed(_am("resolved", "2026-11-23T07:25:00Z")) is None  # re-sent resolve
    again = feed(_am("firing", "2026-11-23T08:00:00Z", starts_at="2026-11-23T07:59:30Z"))
    assert again is not None and again["id"] != firing["id"]
    assert feed.state["episodes"] == 2 and feed.state["total"] == 4


def test_a_late_firing_resend_after_the_resolve_is_dropped() -> None:
    feed = Feed()
    feed(_am("firing", "2026-11-23T07:00:00Z"))
    feed(_am("resolved", "2026-11-23T07:20:00Z"))
    assert feed(_am("firing", "2026-11-23T07:20:01Z")) is None
    assert feed.state["status"] == "resolved"


def test_sentry_issue_is_the_identity_and_a_regression_passes() -> None:
    feed = Feed(POLICIES["sentry"])
    created = feed(_sentry("created", "2026-01-01T00:00:00Z"))
    assert created is not None
    assert feed(_sentry("assigned", "2026-01-01T00:05:00Z")) is None  # same issue, still open
    resolved = feed(_sentry("resolved", "2026-01-01T01:00:00Z"))
    assert resolved is not None and resolved["id"] == created["id"]
    regression = feed(_sentry("unresolved", "2026-01-02T00:00:00Z"))
    assert regression is not None and regression["status"] == "firing"
    assert regression["id"] != created["id"]
    assert "fired again after it resolved: a new episode" in regression["reasons"]


def test_events_of_an_open_issue_are_counted_under_its_id() -> None:
    feed = Feed(POLICIES["api"])
    base = {
        "id": "e1",
        "tenant": "t",
        "fingerprint": "f",
        "status": "firing",
        "reasons": [],
        "received_at": "2026-01-01T00:00:00Z",
    }
    assert feed(base)["id"] == "e1"  # type: ignore[arg-type, index]
    later = {**base, "id": "e2", "received_at": "2026-01-01T00:01:00Z"}
    assert feed(later) is None  # type: ignore[arg-type]
    resolve = {**base, "id": "e3", "status": "resolved", "received_at": "2026-01-01T00:02:00Z"}
    out = feed(resolve)  # type: ignore[arg-type]
    assert out is not None and out["id"] == "e1" and out["duplicate_count"] == 3


def test_flapping_is_held_back_and_released_when_it_settles() -> None:
    feed = Feed(DedupPolicy(flap_changes=3, flap_window_ms=30 * 60_000, settle_ms=10 * 60_000))
    passed = []
    for n, minute in enumerate(range(0, 24, 3)):  # fire/resolve every 3 minutes
        status = "firing" if n % 2 == 0 else "resolved"
        starts = f"2026-11-23T07:{minute - minute % 6:02}:00Z"
        passed.append(feed(_am(status, f"2026-11-23T07:{minute:02}:00Z", starts_at=starts)))
    assert [p is not None for p in passed] == [True, True, True, True] + [False] * 4
    assert "flapping: 4 state changes within 30m" in passed[3]["reasons"][0]
    assert passed[3]["status"] == "resolved", "a resolve is never held back"
    assert feed.state["held"] == 4
    # quiet for 10 minutes: the next re-send releases its latest state, saying why
    released = feed(_am("resolved", "2026-11-23T07:40:00Z", starts_at="2026-11-23T07:18:00Z"))
    assert released is None, "it settled in the state the next stage already knows"
    refire = feed(_am("firing", "2026-11-23T08:30:00Z", starts_at="2026-11-23T08:30:00Z"))
    assert refire is not None and not any("flapping" in r for r in refire["reasons"])


def test_a_flapping_alert_that_settles_firing_is_released_with_the_reason() -> None:
    feed = Feed(DedupPolicy(flap_changes=2, flap_window_ms=30 * 60_000, settle_ms=10 * 60_000))
    feed(_am("firing", "2026-11-23T07:00:00Z", starts_at="2026-11-23T07:00:00Z"))
    feed(_am("resolved", "2026-11-23T07:02:00Z", starts_at="2026-11-23T07:00:00Z"))
    held = feed(_am("firing", "2026-11-23T07:04:00Z", starts_at="2026-11-23T07:04:00Z"))
    assert held is None
    assert feed(_am("firing", "2026-11-23T07:09:00Z", starts_at="2026-11-23T07:04:00Z")) is None
    out = feed(_am("firing", "2026-11-23T07:15:00Z", starts_at="2026-11-23T07:04:00Z"))
    assert out is not None and out["status"] == "firing"
    assert any("1 changes were held back" in r for r in out["reasons"])


def test_a_replay_after_a_crash_passes_again() -> None:
    feed = Feed()
    first = feed(_am("firing", "2026-11-23T07:00:00Z"))
    feed(_am("firing", "2026-11-23T07:05:00Z"))
    state, out = decide(feed.state, _am("firing", "2026-11-23T07:00:00Z"), 1, AM)
    assert out is not None and out["id"] == first["id"] and state == feed.state


def test_a_fingerprint_unseen_past_its_expiry_starts_afresh() -> None:
    feed = Feed(DedupPolicy(expire_after_ms=3_600_000))
    feed(_am("firing", "2026-11-23T07:00:00Z"))
    assert feed(_am("firing", "2026-11-23T09:00:00Z")) is not None
    assert feed.state["total"] == 1 and feed.state["since"] == "2026-11-23T09:00:00Z"


def test_policies_per_source_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("dedup:\n  default: {settle: 5m}\n  sentry: {flap_changes: 9}\n")
    policies = load_config({"ALERTFLOW_CONFIG": str(path)}).dedup
    assert policies["alertmanager"].settle_ms == 300_000
    assert policies["sentry"].flap_changes == 9 and policies["sentry"].merge_episodes
    path.write_text("dedup:\n  sentry: {settle: never}\n")
    with pytest.raises(ConfigError, match=r"dedup\.sentry\.settle"):
        load_config({"ALERTFLOW_CONFIG": str(path)})


def test_a_held_alert_is_released_by_any_later_message_of_its_partition() -> None:
    policy = DedupPolicy(flap_changes=2, flap_window_ms=30 * 60_000, settle_ms=10 * 60_000)
    feed = Feed(policy)
    feed(_am("firing", "2026-11-23T07:00:00Z", starts_at="2026-11-23T07:00:00Z"))
    feed(_am("resolved", "2026-11-23T07:02:00Z", starts_at="2026-11-23T07:00:00Z"))
    assert feed(_am("firing", "2026-11-23T07:04:00Z", starts_at="2026-11-23T07:04:00Z")) is None
    ticks: Ticks = track({"due": {}, "released": [], "swept": -1}, "t|f", feed.state, policy)
    assert ticks["due"] == {"t|f": epoch_ms("2026-11-23T07:14:00Z")}
    policies = {"alertmanager": policy}
    rows = {"t|f": feed.state}
    early = tick(ticks, rows.get, epoch_ms("2026-11-23T07:13:59Z"), 40, policies)
    assert early[2] == [] and early[0]["due"] == ticks["due"], "not settled yet"
    # a message of another fingerprint at 07:14: no re-send of this one is needed
    after, written, (out,) = tick(ticks, rows.get, epoch_ms("2026-11-23T07:14:00Z"), 41, policies)
    assert out["status"] == "firing" and out["starts_at"] == "2026-11-23T07:04:00.000Z"
    assert "1 changes were held back until it stays unchanged for 10m" in out["reasons"][-1]
    assert after["due"] == {} and written["t|f"]["held"] == 0
    assert [o["id"] for o in tick(after, {}.get, 0, 41, policies)[2]] == [out["id"]], "replayed"
    assert tick(after, {}.get, 0, 42, policies)[2] == []
    feed.state = written["t|f"]  # its next re-send is a duplicate: the release was the news
    assert feed(_am("firing", "2026-11-23T07:19:00Z", starts_at="2026-11-23T07:04:00Z")) is None


def test_a_flap_that_settles_resolved_is_not_released_twice() -> None:
    policy = DedupPolicy(flap_changes=2, flap_window_ms=30 * 60_000, settle_ms=10 * 60_000)
    feed = Feed(policy)
    feed(_am("firing", "2026-11-23T07:00:00Z", starts_at="2026-11-23T07:00:00Z"))
    feed(_am("resolved", "2026-11-23T07:02:00Z", starts_at="2026-11-23T07:00:00Z"))
    feed(_am("firing", "2026-11-23T07:04:00Z", starts_at="2026-11-23T07:04:00Z"))
    feed(_am("resolved", "2026-11-23T07:05:00Z", starts_at="2026-11-23T07:04:00Z"))
    ticks = track({"due": {}, "released": [], "swept": -1}, "t|f", feed.state, policy)
    _, _, out = tick(ticks, {"t|f": feed.state}.get, epoch_ms("2026-11-23T08:00:00Z"), 9, {})
    assert out == [], "the next stage already knows it resolved"
