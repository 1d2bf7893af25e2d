"""Dedup rules on real payloads: re-sends, state changes, episodes, Sentry issues, flapping,
replays, expiry, per-source policies and episodes of sources that never resolve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.config import POLICIES, Config, ConfigError, DedupPolicy, load_config
from app.dedup.episode import Ticks, decide, tick, track
from app.dedup.handler import Policies
from app.dedup.timeout import TIMEOUTS, timed_out
from app.learning.scoring import Thresholds
from app.pipeline import Pipeline
from app.records import Alert, epoch_ms
from app.sources import normalize, split_alertmanager, split_api, split_sentry_webhook
from app.triage.routing import Snapshot
from tests.harness import SHARED

FIXTURES = SHARED / "fixtures"
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


def _api(
    received_at: str, status: str = "firing", title: str = "IDS: web 400 on intranet"
) -> Alert:
    body = {"title": title, "status": status, "labels": {"host": "intranet", "rule": "W-400"}}
    raw = split_api(json.dumps(body).encode(), tenant="t", received_at=received_at)
    return normalize(raw[0])


def _at(minutes: float) -> str:
    return f"2026-11-23T07:{int(minutes):02d}:{round(minutes % 1 * 60):02d}Z"


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
    policies = Policies({"alertmanager": policy}).of
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
    at = epoch_ms("2026-11-23T08:00:00Z")
    _, _, out = tick(ticks, {"t|f": feed.state}.get, at, 9, Policies({}).of)  # the API's policy
    assert out == [], "the next stage already knows it resolved"


API = POLICIES["api"]


def test_the_api_resolves_an_alert_not_sent_again_within_its_timeout() -> None:
    assert API.resolve_timeout_ms == 300_000, "global.resolve_timeout's default"
    feed = Feed(API)
    first = feed(_api(_at(0)))
    assert first is not None
    assert feed(_api(_at(4))) is None and feed(_api(_at(8))) is None, "re-sent in time: counted"
    state, ended = timed_out(feed.state, epoch_ms(_at(13)), API)
    assert ended is None, "13:00 is not past 08:00 + 5m"
    state, ended = timed_out(feed.state, epoch_ms(_at(14)), API)
    assert ended is not None and state is not None
    assert (ended["id"], ended["status"]) == (first["id"], "resolved")
    assert ended["ends_at"] == "2026-11-23T07:13:00.000Z" and ended["duplicate_count"] == 3
    assert ended["reasons"][-1] == "no message for 5m (the resolve_timeout of its source): resolved"
    feed.state = state
    again = feed(_api(_at(14)))
    assert again is not None and again["id"] != first["id"] and again["status"] == "firing"
    assert again["seq"] == 3 and feed.state["episodes"] == 2
    assert again["reasons"][-1] == (
        "sent again after it was resolved for want of messages: a new episode"
    )


def test_the_senders_own_resolve_after_a_timeout_passes_nothing() -> None:
    feed = Feed(API)
    feed(_api(_at(0)))
    feed.state, ended = timed_out(feed.state, epoch_ms(_at(10)), API)
    assert ended is not None
    assert feed(_api(_at(10), status="resolved")) is None
    assert feed.state["status"] == "resolved" and feed.state["episodes"] == 1


def test_timeouts_are_not_flapping() -> None:
    feed = Feed(API)
    episodes = []
    for n in range(7):  # fires every 8 minutes: 3 re-fires, but 6 changes with the timeouts,
        feed.state, ended = timed_out(feed.state, epoch_ms(_at(n * 8)), API)  # in 20 minutes
        out = feed(_api(_at(n * 8)))
        assert out is not None and (n == 0 or ended is not None)
        episodes.append(out["id"])
    assert len(set(episodes)) == 7 and feed.state["held"] == 0


def test_sources_that_resolve_themselves_have_no_timeout_unless_told(tmp_path: Path) -> None:
    assert POLICIES["alertmanager"].resolve_timeout_ms == 0
    assert POLICIES["sentry"].resolve_timeout_ms == 0
    feed = Feed(AM)
    feed(_am("firing", "2026-11-23T07:00:00Z"))
    assert timed_out(feed.state, epoch_ms("2026-11-24T07:00:00Z"), AM) == (feed.state, None)
    path = tmp_path / "c.yaml"
    path.write_text(
        "global: {resolve_timeout: 10m}\ndedup:\n  alertmanager: {resolve_timeout: 2m}\n"
    )
    policies = load_config({"ALERTFLOW_CONFIG": str(path)}).dedup
    assert policies["api"].resolve_timeout_ms == 600_000
    assert policies["alertmanager"].resolve_timeout_ms == 120_000
    path.write_text("dedup:\n  api: {resolve_timeout: 0}\n")
    assert load_config({"ALERTFLOW_CONFIG": str(path)}).dedup["api"].resolve_timeout_ms == 0
    # an Alertmanager alert re-sent with its startsAt after its timeout: a new episode
    feed = Feed(policies["alertmanager"])
    first = feed(_am("firing", "2026-11-23T07:00:00Z"))
    feed.state, ended = timed_out(feed.state, epoch_ms("2026-11-23T07:03:00Z"), feed.policy)
    again = feed(_am("firing", "2026-11-23T07:03:00Z"))
    assert first and ended and again and again["id"] != first["id"]


def test_an_episode_that_gets_no_more_messages_is_resolved_as_the_clock_passes() -> None:
    pipeline = Pipeline(Snapshot(Config(), Thresholds()), 0.35)
    (fired,), _ = pipeline.send(_api(_at(0)))
    other, _ = pipeline.send(_api(_at(3), title="IDS: ssh login on vpn"))
    assert [a["status"] for a in other] == ["firing"]
    assert pipeline.advance(epoch_ms(_at(4.5)))[0] == [], "not past 00:00 + 5m yet"
    assert pipeline.advance(epoch_ms(_at(5.5)))[0] == [], "its minute bucket is not over yet"
    (resolved,), _ = pipeline.advance(epoch_ms(_at(6)))
    assert (resolved["id"], resolved["status"]) == (fired["id"], "resolved")
    assert resolved["incident_id"] == fired["incident_id"]
    assert resolved["ends_at"] == "2026-11-23T07:05:00.000Z"
    (second,), _ = pipeline.advance(epoch_ms(_at(9)))
    assert second["title"] == "IDS: ssh login on vpn" and second["status"] == "resolved"
    buckets = [k for k in pipeline.dedup_rows.data if k.startswith(TIMEOUTS.prefix)]
    assert buckets == [TIMEOUTS.position(0)], "swept buckets are deleted: nothing grows"
    (back,), _ = pipeline.send(_api(_at(30)))
    assert back["status"] == "firing" and back["id"] != fired["id"]


def test_an_alert_still_sent_to_is_looked_at_again_not_resolved() -> None:
    pipeline = Pipeline(Snapshot(Config(), Thresholds()), 0.35)
    (fired,), _ = pipeline.send(_api(_at(0)))
    for minute in range(1, 40):  # re-sent every minute for 40 minutes: one episode
        assert pipeline.send(_api(_at(minute)))[0] == []
    buckets = [k for k in pipeline.dedup_rows.data if k.startswith(TIMEOUTS.prefix + "|0|")]
    assert len(buckets) <= 3, "listed once per timeout, not once per re-send"
    (resolved,), _ = pipeline.advance(epoch_ms(_at(46)))
    assert resolved["id"] == fired["id"] and resolved["ends_at"] == "2026-11-23T07:44:00.000Z"
