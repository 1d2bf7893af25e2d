"""Correlation rules on Alertmanager payloads: session windows, lifecycles, thresholds,
groupKey, same template, learned co-occurrence, storms, replays, bounded state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agents import correlate
from agents.correlate import decide, empty_state
from agents.fingerprint import message_text
from app.config import DEFAULT_ROUTE, Route, from_document
from app.records import Alert, format_time
from app.sources import normalize, split_alertmanager
from app.templates.miner import TemplateMiner

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
    s = Stream(from_document({"routes": {"group_gap": "5m", "max_duration": "10m"}}).route)
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
    s = Stream(from_document({"routes": {"min_alerts": 3}}).route)
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
    s = Stream(from_document({"routes": {"min_distinct_alerts": 2}}).route)
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
    assert child["reasons"][-1].startswith(
        "co-occurs with “Postgres primary <*> is down” on 3 of 4 occasions in 30 days"
    )


def test_a_template_that_fires_all_the_time_co_occurs_with_nothing() -> None:
    s = Stream()
    for hour in range(12):  # a chatty alert every hour; the other one three times
        s(s.alert(hour * 61, "Chatty", f"Disk usage on web-{hour} high", service="misc"))
        if hour % 4 == 0:
            s(s.alert(hour * 61 + 1, "Rare", "Checkout returns errors", service="web"))
    chatty = s(s.alert(800, "Chatty", "Disk usage on web-77 high", service="misc"))
    rare = s(s.alert(801, "Rare", "Checkout returns errors", service="web"))
    assert rare["incident_id"] != chatty["incident_id"], "4 of 13 occasions: chance"


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
    assert state["acme"]["rates"] == before["acme"]["rates"]
    assert {k: v for k, v in state.items() if "|p|" in k} == {
        k: v for k, v in before.items() if "|p|" in k
    }


def test_incidents_are_rows_of_their_own_in_the_tenant_partition() -> None:
    s = Stream()
    a = s(s.alert(0, "Down", "Service api down", service="api"))
    b = s(s.alert(30, "Full", "Disk of db full", service="db"))
    assert all(key == "acme" or key.startswith("acme|") for key in s.state)
    assert s.state[f"acme|i|{a['incident_id']}"]["alerts"] == {a["id"]: "firing"}
    assert s.state[f"acme|a|{b['id']}"] == {"incident": b["incident_id"]}
    assert len(s.state["acme"]["live"]) == 1, "the first one left its session window"


def test_state_stays_bounded_and_expiry_is_incremental() -> None:
    s = Stream()
    for n in range(300):  # 150 hours: an alert every 30 minutes, resolved at once
        alert = s.alert(n * 30, f"A{n % 7}", f"Thing {n % 7} broke", service=f"s{n % 5}")
        s(alert)
        s({**alert, "status": "resolved"})
    incidents = [k for k in s.state if "|i|" in k]
    assert len(incidents) <= 24 * 2 + 4, "about a day of resolved incidents"
    assert sum("|a|" in k for k in s.state) == len(incidents)
    buckets = [int(k.rsplit("|", 1)[1]) for k in s.state if "|w|" in k]
    assert min(buckets) > s.state["acme"]["swept"], "every passed hour's bucket was swept"
    assert len(s.state["acme"]["recent"]) <= 8 and not s.state["acme"]["live"]


def test_a_flapping_alert_that_fires_again_within_the_gap_rejoins_its_incident() -> None:
    s = Stream()
    first = s.alert(0, "HighMemory", "Memory of w1 above 90%", service="batch", instance="w1")
    opened = s(first)
    s({**first, "status": "resolved", "ends_at": format_time(T0 + timedelta(minutes=2))})
    again = s(s.alert(5, "HighMemory", "Memory of w1 above 90%", service="batch", instance="w1"))
    assert again["id"] != opened["id"] and again["incident_id"] == opened["incident_id"]
    assert again["reasons"][-1].startswith("fired again within the group gap")
    late = s(s.alert(20, "HighMemory", "Memory of w1 above 90%", service="batch", instance="w1"))
    assert late["incident_id"] != opened["incident_id"], "past the gap: a new incident"


def test_a_symptom_in_the_same_place_just_after_joins_and_says_why() -> None:
    s = Stream()
    root = s(s.alert(0, "PgDown", "Postgres primary pg-1 is down", service="pg", cluster="eu"))
    near = s(s.alert(1.5, "Errors", "Checkout returns errors", service="web", cluster="eu"))
    other = s(s.alert(2, "Slow", "Search is slow", service="search", cluster="us"))
    late = s(s.alert(14, "Queue", "Mail queue grows", service="mail", cluster="eu"))
    assert near["incident_id"] == root["incident_id"]
    assert near["reasons"][-1] == (
        f"started 90s after the newest alert of incident {root['incident_id']},"
        " in the same cluster=eu"
    )
    assert other["incident_id"] != root["incident_id"], "another cluster"
    assert late["incident_id"] != root["incident_id"], "too late"


def test_the_first_alerts_of_a_storm_are_merged_into_the_storm_incident() -> None:
    s = Stream()
    for m in range(0, 60, 6):  # a quiet baseline
        s(s.alert(m, f"Quiet{m}", f"Batch job {m} slow", service=f"batch{m}"))
    before = s(s.alert(69.5, "Lonely", "Cron lonely job late", service="cron"))
    words = ["".join(chr(97 + int(d)) for d in f"{n:02d}") for n in range(40)]  # aa, ab, …
    storm = [  # forty different alerts, no shared template, within 80 seconds
        s(s.alert(70 + n / 30, f"A{w}", f"{w}pod {w}node {w}disk failed", service=f"s{w}"))
        for n, w in enumerate(words)
    ]
    ids = {s.state["acme|a|" + a["id"]]["incident"] for a in storm}
    assert len(ids) == 1, "every alert of the storm ends in one incident"
    (storm_id,) = ids
    detected = next(a for a in storm if "collapsing into" in " ".join(a["reasons"]))
    assert "incidents it opened before" in detected["reasons"][-1]
    assert correlate.incident_of(s.state, "acme", before["id"]) == storm_id, "opened 1m before"
    first = storm[0]
    assert first["incident_id"] != storm_id, "placed before the storm was detected"
    resolved = s(
        {**s.alert(70, "Aaa", "aapod aanode aadisk failed", service="saa"), "status": "resolved"}
    )
    assert resolved["incident_id"] == storm_id and resolved["merged_from"] == first["incident_id"]
    assert f"merged into it from incident {first['incident_id']}" in resolved["reasons"][-1]
    assert s.state.get(f"acme|i|{first['incident_id']}") is None


def test_content_and_place_never_join_across_clusters() -> None:
    s = Stream()
    eu = s(s.alert(0, "Probe", "Blackbox probe of api failed", service="api", cluster="eu"))
    us = s(s.alert(1, "Probe2", "Blackbox probe of web failed", service="web", cluster="us"))
    eu2 = s(s.alert(2, "Probe3", "Blackbox probe of db failed", service="db", cluster="eu"))
    assert us["incident_id"] != eu["incident_id"] == eu2["incident_id"]
    assert eu2["reasons"][-1].startswith("same template as incident")


def test_an_alert_released_after_flapping_rejoins_its_earlier_episodes() -> None:
    s = Stream()
    first = s.alert(0, "HighMemory", "Memory of w1 above 90%", service="batch", instance="w1")
    opened = s(first)
    s({**first, "status": "resolved", "ends_at": format_time(T0 + timedelta(minutes=2))})
    released = {  # dedup held its changes back for 25 minutes, then released it
        **s.alert(25, "HighMemory", "Memory of w1 above 90%", service="batch", instance="w1"),
        "held_changes": 6,
    }
    out = s(released)
    assert out["incident_id"] == opened["incident_id"]
    assert out["reasons"][-1] == (
        "released after flapping (6 changes held back): the incident of its earlier episodes"
    )
