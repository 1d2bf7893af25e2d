"""Heartbeats, the pure part: configuration, which alert is a ping, when a heartbeat pages, and
the page's identity (:mod:`app.heartbeats`)."""

from __future__ import annotations

import pytest

from app.config import ConfigError, from_document
from app.heartbeats import Heartbeat, due_ms, new_state, on_clock, on_ping, on_removed, pinged_by
from app.identity import alert_id
from app.matchers import parse_matcher
from app.records import epoch_ms
from app.sources import normalize

MINUTE = 60_000


def test_heartbeats_are_read_from_the_configuration() -> None:
    config = from_document(
        {
            "heartbeats": [
                {
                    "name": "prometheus",
                    "interval": "1m",
                    "grace": "2m",
                    "matchers": ['{alertname="Watchdog", cluster="eu"}'],
                    "labels": {"team": "infra"},
                },
                {"name": "nightly-backup", "interval": "1d"},
            ]
        }
    )
    prom, backup = config.heartbeats.values()
    assert (prom.interval_ms, prom.grace_ms, prom.patience_ms) == (MINUTE, 2 * MINUTE, 3 * MINUTE)
    assert [str(m) for m in prom.matchers] == ['alertname="Watchdog"', 'cluster="eu"']
    assert prom.labels == {"team": "infra"} and prom.tenant == "default"
    assert backup.grace_ms == backup.interval_ms  # default grace: one interval
    assert backup.matchers == ()


@pytest.mark.parametrize(
    ("heartbeats", "says"),
    [
        ([{"name": "a", "interval": "1m"}, {"name": "a", "interval": "2m"}], "defined twice"),
        ([{"name": "a b", "interval": "1m"}], "heartbeats[0].name"),
        ([{"name": "a", "interval": "0s"}], "heartbeats[0].interval"),
        ([{"name": "a"}], "heartbeats[0].interval"),
        ([{"name": "a", "interval": "1m", "matchers": ['x=~"(']}], "heartbeats[0].matchers[0]"),
        ([{"name": "a", "interval": "1m", "labels": {"0x": "y"}}], "heartbeats[0].labels"),
        ([{"name": "a", "interval": "1m", "receiver": "ops"}], "heartbeats[0].receiver"),
    ],
)
def test_a_bad_heartbeat_is_a_configuration_error_naming_it(heartbeats: list, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        from_document({"heartbeats": heartbeats})
    assert says in str(refused.value)


WATCHDOG = Heartbeat("prom", MINUTE, MINUTE, (parse_matcher('alertname="Watchdog"'),))


def test_only_alerts_matching_a_heartbeats_matchers_are_its_pings() -> None:
    beats = {"prom": WATCHDOG, "http-only": Heartbeat("http-only", MINUTE, 0)}
    assert pinged_by(beats, {"alertname": "Watchdog", "severity": "none"}) == "prom"
    assert pinged_by(beats, {"alertname": "WatchdogX"}) is None
    assert pinged_by(beats, {}) is None


def test_a_heartbeat_that_keeps_arriving_never_pages() -> None:
    state = new_state()
    for second in range(0, 3600, 30):  # a ping every 30 s for an hour, the clock every second
        at = second * 1000
        state, alerts = on_ping(state, at)
        assert alerts == []
        for tick in range(at, at + 30_000, 1000):
            state, alerts = on_clock(WATCHDOG, state, tick, 0)
            assert alerts == []


def test_a_stopped_heartbeat_pages_once_at_interval_plus_grace_and_resolves_on_the_next_ping() -> (
    None
):
    state, _ = on_ping(new_state(), 10_000)
    assert on_clock(WATCHDOG, state, 10_000 + 2 * MINUTE - 1, 0)[1] == []
    state, (firing,) = on_clock(WATCHDOG, state, 10_000 + 2 * MINUTE + 400, 0)
    assert on_clock(WATCHDOG, state, 10_000 + 10 * MINUTE, 0)[1] == []  # once
    alert = normalize(firing)
    assert alert["status"] == "firing" and alert["severity"] == "critical"
    assert epoch_ms(alert["starts_at"]) == 10_000 + 2 * MINUTE  # when it became due
    state, (resolving,) = on_ping(state, 10_000 + 11 * MINUTE)
    resolved = normalize(resolving)
    assert resolved["status"] == "resolved" and resolved["id"] == alert["id"]
    assert resolved["id"] == alert_id("default", alert["fingerprint"], epoch_ms(alert["starts_at"]))
    assert state["page"] is None and state["pings"] == 2
    # Silent again: a new page, a new episode (a new id).
    state, (again,) = on_clock(WATCHDOG, state, 10_000 + 14 * MINUTE, 0)
    assert normalize(again)["id"] != alert["id"]


def test_watching_starts_the_clock_for_a_heartbeat_never_heard_from_and_after_a_restart() -> None:
    assert due_ms(WATCHDOG, new_state(), 5 * MINUTE) == 7 * MINUTE
    heard_long_ago = {**new_state(), "last_ms": 0}
    assert due_ms(WATCHDOG, heard_long_ago, 60 * MINUTE) == 62 * MINUTE  # not at once


def test_a_removed_heartbeat_resolves_its_page() -> None:
    state, (firing,) = on_clock(WATCHDOG, new_state(), 3 * MINUTE, 0)
    (resolving,) = on_removed(state, 4 * MINUTE)
    assert normalize(resolving)["status"] == "resolved"
    assert normalize(resolving)["id"] == normalize(firing)["id"]


def test_the_page_is_routed_by_the_heartbeats_labels_and_tenant() -> None:
    beat = Heartbeat("jobs", MINUTE, 0, labels={"team": "data", "severity": "warning"}, tenant="t2")
    _, (firing,) = on_clock(beat, new_state(), MINUTE, 0)
    alert = normalize(firing)
    assert alert["tenant"] == "t2" and alert["severity"] == "warning"
    assert alert["labels"] == {
        "alertname": "HeartbeatMissing",
        "heartbeat": "jobs",
        "severity": "warning",
        "team": "data",
    }
