"""Correlation rules on Alertmanager payloads: session windows, lifecycles, thresholds,
groupKey, same template, learned co-occurrence, storms, replays, bounded state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agents import correlate
from agents.correlate import decide, empty_state
from agents.fingerprint import message_text
from agents.template_miner import TemplateMiner
from app.records import Alert, format_time
from app.routes import DEFAULT_ROUTE, Route, parse_route
from app.sources import normalize, split_alertmanager

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Stream:
    """Alerts of one tenant through the template miner and ``decide``, like the agents."""

    def __init__(self, route: Route = DEFAULT_ROUTE) -> None:
        self.state = empty_state()
        self.offset = 0
        self.miner = TemplateMiner()
        self.route = route

    def alert(
        self,
        minute: float,
        name: str,
        summary: str,
        status: str = "firing",
        group_key: str | None = None,
        **labels: str,
    ) -> Alert:
        starts = format_time(T0 + timedelta(minutes=minute))
        body: dict[str, Any] = {
            "version": "4",
            "groupKey": group_key or f'{{}}:{{alertname="{name}",n="{minute}"}}',
            "alerts": [
                {
                    "status": status,
                    "labels": {"alertname": name, **labels},
                    "annotations": {"summary": summary},
                    "startsAt": starts,
                }
            ],
        }
        (raw,) = split_alertmanager(json.dumps(body).encode(), tenant="acme", received_at=starts)
        alert = normalize(raw)
        template = self.miner.match(message_text(alert))
        return {**alert, "template_id": template.id, "template": template.text}

    def __call__(self, alert: Alert) -> Alert:
        self.offset += 1
        self.state, out = decide(self.state, alert, self.route, self.offset)
        return out


def test_session_gap_groups_by_key_and_a_late_alert_opens_a_new_incident() -> None:
    s = Stream()
    a = s(s.alert(0, "DiskFull", "Disk full on db1", service="db", instance="db1"))
    b = s(s.alert(4, "DiskFull", "Disk full on db2", service="db", instance="db2"))
    c = s(s.alert(8, "DiskFull", "Disk full on db3", service="db", instance="db3"))
    late = s(s.alert(14, "DiskFull", "Disk full on db4", service="db", instance="db4"))
    assert a["incident_id"] == b["incident_id"] == c["incident_id"] != late["incident_id"]
    assert b["reasons"][-1].startswith("joined incident of 1 alerts: same tenant=acme,service=db")


def test_incident_lifetime_is_capped() -> None:
    s = Stream(parse_route({"group_gap": "5m", "max_duration": "10m"}))
    ids = {
        s(s.alert(m, "Lag", "Consumer lag high", service="q", n=str(m)))["incident_id"]
        for m in range(0, 16, 3)
    }
    assert len(ids) == 2


def test_resolved_incident_never_absorbs_new_alerts() -> None:
    s = Stream()
    first = s.alert(0, "Down", "Service api down", service="api")
    opened = s(first)
    resolved = s({**first, "status": "resolved"})
    assert resolved["incident_id"] == opened["incident_id"]
    assert "every alert of its incident is resolved" in resolved["reasons"][-1]
    again = s(s.alert(2, "Down", "Service api down", service="api", instance="x"))
    assert again["incident_id"] != opened["incident_id"]


def test_min_alerts_counts_only_firing_alerts_before_the_incident_opens() -> None:
    s = Stream(parse_route({"min_alerts": 3}))
    one = s.alert(0, "Err", "Errors on web", service="web", instance="w1")
    assert s(one)["incident_open"] is False
    s({**one, "status": "resolved"})  # resolved alerts do not count …
    two = s(s.alert(1, "Err", "Errors on web", service="web", instance="w2"))
    assert (
        two["incident_open"] is False and "needs 3 firing alerts (1 so far)" in two["reasons"][-1]
    )
    s(s.alert(2, "Err", "Errors on web", service="web", instance="w3"))
    three = s(s.alert(3, "Err", "Errors on web", service="web", instance="w4"))
    assert three["incident_open"] is True and three["incident_id"] == two["incident_id"]


def test_min_distinct_alerts_needs_distinct_fingerprints() -> None:
    s = Stream(parse_route({"min_distinct_alerts": 2}))
    first = s.alert(0, "Err", "Errors on web", service="web", instance="w1")
    assert s(first)["incident_open"] is False
    refired = s.alert(1, "Err", "Errors on web", service="web", instance="w1")  # same labels
    assert s(refired)["incident_open"] is False
    assert s(s.alert(2, "Err", "Errors on web", service="web", instance="w2"))["incident_open"]


def test_same_groupkey_is_never_split_even_past_the_gap() -> None:
    s = Stream()
    key = '{}:{alertname="Probe", cluster="eu"}'
    a = s(s.alert(0, "Probe", "Probe of api failed", group_key=key, service="api"))
    b = s(s.alert(30, "Probe", "Probe of search failed", group_key=key, service="search"))
    assert a["incident_id"] == b["incident_id"]
    assert "same Alertmanager group" in b["reasons"][-1]


def test_same_template_joins_across_keys_and_says_so() -> None:
    s = Stream()
    a = s(s.alert(0, "Latency", "p99 latency of orders is 900ms", service="orders"))
    b = s(s.alert(2, "Slow", "p99 latency of payments is 1200ms", service="payments"))
    assert a["incident_id"] == b["incident_id"]
    assert b["reasons"][-1] == (
        f"same template as incident {a['incident_id']}: <*> latency of <*> is <*>"
    )


def test_templates_that_keep_co_occurring_join_and_the_count_is_given() -> None:
    s = Stream()
    for hour in range(3):  # the same cascade, three times
        root = s(s.alert(hour * 120, "PgDown", "Postgres primary pg-1 is down", service="pg"))
        child = s(s.alert(hour * 120 + 1, "Errors", "Checkout returns errors", service="web"))
        assert root["incident_id"] != child["incident_id"], "not learned yet"
    root = s(s.alert(400, "PgDown", "Postgres primary pg-2 is down", service="pg"))
    child = s(s.alert(401, "Errors", "Checkout returns errors", service="web"))
    assert child["incident_id"] == root["incident_id"]
    assert child["reasons"][-1].startswith("co-occurs with “Postgres primary <*> is down” 3 times")


def test_a_storm_collapses_into_one_incident_and_says_so() -> None:
    s = Stream()
    for m in range(0, 60, 6):  # a quiet baseline: one alert every six minutes
        s(s.alert(m, f"Quiet{m}", f"Batch job {m} slow", service=f"batch{m}"))
    storm = [
        s(s.alert(70 + n / 30, f"Alert{n}", f"Thing number{n} broke", service=f"svc{n}"))
        for n in range(40)
    ]
    collapsed = [a for a in storm if a["reasons"][-1].startswith("alert storm:")]
    assert len(collapsed) >= 25
    assert len({a["incident_id"] for a in collapsed}) == 1
    assert any("collapsing into one incident" in r for a in storm for r in a["reasons"])


def test_a_replay_gets_the_same_incident_and_learns_nothing_twice() -> None:
    s = Stream()
    alert = s.alert(0, "Down", "Service api down", service="api")
    first = s(alert)
    before = s.state
    state, again = decide(s.state, alert, Route(), s.offset)  # the same offset again
    assert again["incident_id"] == first["incident_id"]
    assert state["rates"] == before["rates"] and state["pairs"] == before["pairs"]


def test_state_stays_bounded() -> None:
    s = Stream()
    for n in range(300):
        s(s.alert(n * 30, f"A{n % 7}", f"Thing {n % 7} broke", service=f"s{n % 5}"))
        s(
            {
                **s.alert(n * 30, f"A{n % 7}", f"Thing {n % 7} broke", service=f"s{n % 5}"),
                "status": "resolved",
            }
        )
    assert len(s.state["incidents"]) <= 24 * 2 * 2 + 2  # a day of resolved incidents
    assert len(s.state["recent"]) <= 8
    assert len(s.state["pairs"]) <= correlate.MAX_PAIRS
