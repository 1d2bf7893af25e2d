"""Correlation rules on Alertmanager payloads, through the stages' own functions in memory
(:class:`app.pipeline.Pipeline`: dedup → triage → correlation → tenant-wide merges): session
windows, lifecycles, thresholds, groupKey, same template, learned co-occurrence, place, storms,
replays, and rows that stay bounded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from app.config import Config, from_document
from app.correlation.group import Window, decide
from app.correlation.handler import correlate
from app.correlation.index import MAX_LISTED, MAX_SERVICES, united
from app.correlation.session import MAX_PARTS
from app.correlation.storm import MAX_STORMS
from app.learning.scoring import Thresholds
from app.pipeline import Pipeline
from app.records import Alert, format_time
from app.runtime.stage import Record
from app.runtime.state import MemoryRows
from app.sources import normalize, split_alertmanager
from app.triage.handler import DEDUPED, EVENTS, OPENED, Handled, Triage
from app.triage.routing import Snapshot
from tables.expiry import ExpiringRows, Expiry

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Stream:
    """Alertmanager alerts of one tenant through the pipeline, one at a time."""

    def __init__(self, config: Config | None = None) -> None:
        self.pipeline = Pipeline(Snapshot(config or Config(), Thresholds()), 0.35)
        self.merges: list[tuple[str, dict[str, Any]]] = []

    def alert(
        self,
        minute: float,
        name: str,
        summary: str,
        status: str = "firing",
        group_key: str | None = None,
        ends: float | None = None,
        **labels: str,
    ) -> Alert:
        """The alert as the bridge normalises it."""
        starts = T0 + timedelta(minutes=minute)
        alert: dict[str, Any] = {
            "status": status,
            "labels": {"alertname": name, **labels},
            "annotations": {"summary": summary},
            "startsAt": format_time(starts),
        }
        if ends is not None:
            alert["endsAt"] = format_time(T0 + timedelta(minutes=ends))
        body = {
            "version": "4",
            "groupKey": group_key or f'{{}}:{{alertname="{name}",n="{minute}"}}',
            "alerts": [alert],
        }
        received = format_time(T0 + timedelta(minutes=ends if ends is not None else minute))
        (raw,) = split_alertmanager(json.dumps(body).encode(), tenant="acme", received_at=received)
        return normalize(raw)

    def __call__(self, alert: Alert) -> Alert:
        """The alert as correlation passed it on (the last one, should dedup release more)."""
        out, merges = self.pipeline.send(alert)
        self.merges += merges
        assert out, "dedup passed nothing"
        return out[-1]

    def send(self, minute: float, name: str, summary: str, **labels: str) -> Alert:
        return self(self.alert(minute, name, summary, **labels))

    def incident(self, alert: Alert) -> str:
        """Where the alert is after the merges so far."""
        return self.pipeline.incident_of(alert["incident_id"] or "")

    def merge_of(self, alert: Alert) -> dict[str, Any]:
        """The merge that took the alert's incident into another."""
        (merge,) = [m for absorbed, m in self.merges if absorbed == alert["incident_id"]]
        return merge


def _routes(routes: dict[str, Any]) -> Config:
    return from_document({"routes": routes})


def test_session_gap_groups_by_key_and_a_late_alert_opens_a_new_incident() -> None:
    s = Stream()
    a = s.send(0, "DiskFull", "Disk full on db1", service="db", instance="db1")
    b = s.send(4, "DiskFull", "Disk full on db2", service="db", instance="db2")
    c = s.send(8, "DiskFull", "Disk full on db3", service="db", instance="db3")
    late = s.send(14, "DiskFull", "Disk full on db4", service="db", instance="db4")
    assert a["incident_id"] == b["incident_id"] == c["incident_id"] != late["incident_id"]
    assert s.incident(late) != s.incident(a), "past the gap, and the template rule needs it live"
    assert b["reasons"][-1].startswith("joined incident of 1 alerts: same tenant=acme,service=db")
    assert a["group"] == "acme|root|tenant=acme,service=db,alertname=DiskFull"


def test_incident_lifetime_is_capped() -> None:
    s = Stream(_routes({"group_gap": "5m", "max_duration": "10m"}))
    ids = {
        s.send(m, "Lag", "Consumer lag high", service="q", n=str(m))["incident_id"]
        for m in range(0, 16, 3)
    }
    assert len(ids) == 2


def test_resolved_incident_never_absorbs_new_alerts() -> None:
    s = Stream()
    first = s.alert(0, "Down", "Service api down", service="api")
    opened = s(first)
    resolved = s(s.alert(0, "Down", "Service api down", "resolved", ends=1, service="api"))
    assert resolved["incident_id"] == opened["incident_id"]
    assert resolved["reasons"][-1] == (
        "resolved; no firing alert of its group is left in its incident"
    )
    again = s.send(2, "Down", "Service api down", service="api", instance="x")
    assert s.incident(again) != s.incident(opened)


def test_min_alerts_counts_only_firing_alerts_before_the_incident_opens() -> None:
    s = Stream(_routes({"min_alerts": 3}))
    one = s.send(0, "Err", "Errors on web", service="web", instance="w1")
    assert one["incident_open"] is False
    s(s.alert(0, "Err", "Errors on web", "resolved", ends=0.5, service="web", instance="w1"))
    two = s.send(1, "Err", "Errors on web", service="web", instance="w2")
    assert two["incident_open"] is False
    assert "needs 3 firing alerts (1 so far)" in two["reasons"][-1]
    s.send(2, "Err", "Errors on web", service="web", instance="w3")
    three = s.send(3, "Err", "Errors on web", service="web", instance="w4")
    assert three["incident_open"] is True and three["incident_id"] == two["incident_id"]


def test_min_distinct_alerts_needs_distinct_fingerprints() -> None:
    s = Stream(_routes({"min_distinct_alerts": 2}))
    assert s.send(0, "Err", "Errors on web", service="web", instance="w1")["incident_open"] is False
    assert s.send(2, "Err", "Errors on web", service="web", instance="w2")["incident_open"]


def test_same_groupkey_is_never_split_even_past_the_gap() -> None:
    s = Stream()
    key = '{}:{alertname="Probe", cluster="eu"}'
    a = s(s.alert(0, "Probe", "Probe of api failed", group_key=key, service="api"))
    b = s(s.alert(30, "Probe", "Probe of search failed", group_key=key, service="search"))
    assert a["incident_id"] != b["incident_id"] and s.incident(b) == s.incident(a)
    assert s.merge_of(b)["reason"] == (
        f"same Alertmanager group ({key}) as incident {a['incident_id']}"
    )


def test_same_template_merges_across_groups_and_says_so() -> None:
    s = Stream()
    a = s.send(0, "Latency", "p99 latency of orders is 900ms", service="orders")
    b = s.send(2, "Slow", "p99 latency of payments is 1200ms", service="payments")
    assert s.incident(b) == s.incident(a)
    merge = s.merge_of(b)
    assert merge["into"] == a["incident_id"] and merge["kind"] == "merge"
    assert merge["reason"] == (
        f"same template as incident {a['incident_id']}: <*> latency of <*> is <*>"
    )


def test_templates_that_keep_co_occurring_merge_and_the_count_is_given() -> None:
    s = Stream()
    for hour in range(3):  # the same cascade, three times
        root = s.send(hour * 120, "PgDown", "Postgres primary pg-1 is down", service="pg")
        child = s.send(hour * 120 + 1, "Errors", "Checkout returns errors", service="web")
        assert s.incident(root) != s.incident(child), "not learned yet"
    root = s.send(400, "PgDown", "Postgres primary pg-2 is down", service="pg")
    child = s.send(401, "Errors", "Checkout returns errors", service="web")
    assert s.incident(child) == s.incident(root)
    assert s.merge_of(child)["reason"].startswith(
        "co-occurs with “Postgres primary <*> is down” on 3 of 4 occasions in 30 days"
    )


def test_a_template_that_fires_all_the_time_co_occurs_with_nothing() -> None:
    s = Stream()
    for hour in range(12):  # a chatty alert every hour; the other one three times
        s.send(hour * 61, "Chatty", f"Disk usage on web-{hour} high", service="misc")
        if hour % 4 == 0:
            s.send(hour * 61 + 1, "Rare", "Checkout returns errors", service="web")
    chatty = s.send(800, "Chatty", "Disk usage on web-77 high", service="misc")
    rare = s.send(801, "Rare", "Checkout returns errors", service="web")
    assert s.incident(rare) != s.incident(chatty), "4 of 13 occasions: chance"


def _baseline(s: Stream) -> None:
    for m in range(0, 60, 6):  # a quiet baseline: one alert every six minutes
        s.send(m, f"Quiet{m}", f"Batch job {m} slow", service=f"batch{m}")


def _words(n: int) -> str:
    return "".join(chr(97 + int(d)) for d in f"{n:02d}")  # aa, ab, …: no shared template


def _storm(s: Stream, count: int, text: str, **labels: str) -> list[Alert]:
    """``count`` new alerts of as many new services from minute 70, two seconds apart;
    ``{w}`` in ``text`` is the alert's own words, ``{n}`` in a label value its number."""
    return [
        s.send(
            70 + n / 30,
            f"A{_words(n)}",
            text.format(w=_words(n)),
            service=f"s{_words(n)}",
            **{name: value.format(n=n) for name, value in labels.items()},
        )
        for n in range(count)
    ]


def test_a_storm_collapses_into_one_incident_and_says_so() -> None:
    s = Stream()
    _baseline(s)
    storm = _storm(s, 40, "{w}pod broke")
    hinted = [a for a in storm if a.get("storm")]
    assert len(hinted) >= 25
    assert {a["incident_id"] for a in hinted} == {hinted[0]["storm"]["incident_id"]}
    assert hinted[0]["reasons"][-1].startswith("alert storm: 10 new alerts in a minute for")
    assert "collapsing into one incident" in hinted[0]["reasons"][-1]
    assert len({s.incident(a) for a in storm}) == 1, "its first minute was merged into it"


def test_the_first_alerts_of_a_storm_are_merged_into_the_storm_incident() -> None:
    s = Stream()
    _baseline(s)
    before = s.send(69.5, "Lonely", "Cron lonely job late", service="cron")
    storm = _storm(s, 40, "{w}pod {w}node failed")
    storm_id = next(a["storm"]["incident_id"] for a in storm if a.get("storm"))
    assert storm_id == before["incident_id"], "the first incident of the storm's first minute"
    assert {s.incident(a) for a in storm} == {storm_id}
    first = storm[0]
    assert first["incident_id"] != storm_id, "placed before the storm was detected"
    assert "minute before the alert storm" in s.merge_of(first)["reason"]
    resolved = s(s.alert(70, "Aaa", "aapod aanode failed", "resolved", ends=75, service="saa"))
    assert resolved["incident_id"] == first["incident_id"], "correlation keeps its own id"


def test_a_storm_takes_the_incident_its_first_alerts_were_merged_into_by_place() -> None:
    s = Stream()
    _baseline(s)
    storm = _storm(s, 30, "{w}pod broke", cluster="eu-9", instance="node-{n}")
    first = storm[1]
    assert "in the same cluster=eu-9" in s.merge_of(first)["reason"], "placed before the storm"
    hinted = [a for a in storm if a.get("storm")]
    assert hinted and {a["storm"]["incident_id"] for a in hinted} == {storm[0]["incident_id"]}
    assert {s.incident(a) for a in storm} == {storm[0]["incident_id"]}
    assert not any("alert storm" in m["reason"] for _, m in s.merges), "nothing left to merge"


def test_a_storm_over_two_clusters_collapses_into_one_incident_in_each() -> None:
    s = Stream()
    _baseline(s)
    storm = [
        s.send(
            70 + n / 30,
            f"A{_words(n)}",
            f"{_words(n)}pod broke",
            service=f"s{_words(n)}",
            cluster=("eu", "us")[n % 2],
        )
        for n in range(60)
    ]
    by_cluster = {c: [a for a in storm if a["labels"]["cluster"] == c] for c in ("eu", "us")}
    hinted = {
        c: {a["storm"]["incident_id"] for a in alerts if a.get("storm")}
        for c, alerts in by_cluster.items()
    }
    assert all(len(ids) == 1 for ids in hinted.values()), hinted
    assert hinted["eu"] != hinted["us"], "a storm never takes an alert of another cluster"
    assert all(a.get("storm") for a in storm[30:]), "each cluster's alerts join its own storm"
    incidents = {c: {s.incident(a) for a in alerts} for c, alerts in by_cluster.items()}
    assert [len(ids) for ids in incidents.values()] == [1, 1], incidents


def test_a_storm_ends_when_its_pace_drops() -> None:
    s = Stream()
    _baseline(s)
    _storm(s, 30, "{w}pod broke")
    straggler = s.send(72, "Straggler", "Mail relay queue grows", service="mail")
    assert not straggler.get("storm"), "one alert a minute later is no storm"


def test_a_replay_gets_the_same_incident_and_counts_nothing_twice() -> None:
    s = Stream()
    alert = s.send(0, "Down", "Service api down", service="api")
    rows = s.pipeline.correlation_rows.data
    before = {key: orjson.dumps(value) for key, value in rows.items()}
    window = Window()
    key = f"{alert['group']}|f|{alert['fingerprint']}"
    again = decide(rows[alert["group"]], rows[key], alert, window, alert["group"])
    assert again.alert["incident_id"] == alert["incident_id"]
    assert not again.changed and not again.summaries
    assert {k: orjson.dumps(v) for k, v in rows.items()} == before


def test_a_flapping_alert_that_fires_again_within_the_gap_rejoins_its_incident() -> None:
    s = Stream()
    opened = s.send(0, "HighMemory", "Memory of w1 above 90%", service="batch", instance="w1")
    s(
        s.alert(
            0,
            "HighMemory",
            "Memory of w1 above 90%",
            "resolved",
            ends=2,
            service="batch",
            instance="w1",
        )
    )
    again = s.send(5, "HighMemory", "Memory of w1 above 90%", service="batch", instance="w1")
    assert again["id"] != opened["id"] and again["incident_id"] == opened["incident_id"]
    assert again["reasons"][-1].startswith("fired again within the group gap")
    rows = s.pipeline.correlation_rows.data
    key = f"{again['group']}|f|{again['fingerprint']}"
    resolved: Alert = {**again, "status": "resolved", "seq": 98}
    resolved["ends_at"] = format_time(T0 + timedelta(minutes=6))
    after = decide(rows[again["group"]], rows[key], resolved, Window(), again["group"])
    late: Alert = {**again, "id": "late", "seq": 99}
    late["starts_at"] = format_time(T0 + timedelta(minutes=20))
    late = decide(after.session, after.fingerprint, late, Window(), again["group"]).alert
    assert late["incident_id"] != opened["incident_id"], "past the gap: a new incident"


def test_an_alert_released_after_flapping_rejoins_its_earlier_episodes() -> None:
    s = Stream()
    opened = s.send(0, "HighMemory", "Memory of w1 above 90%", service="batch", instance="w1")
    s(
        s.alert(
            0,
            "HighMemory",
            "Memory of w1 above 90%",
            "resolved",
            ends=2,
            service="batch",
            instance="w1",
        )
    )
    rows = s.pipeline.correlation_rows.data
    released: Alert = {**opened, "id": "later", "seq": 99, "held_changes": 6}
    released["starts_at"] = format_time(T0 + timedelta(minutes=25))
    key = f"{opened['group']}|f|{opened['fingerprint']}"
    out = decide(rows[opened["group"]], rows[key], released, Window(), opened["group"])
    assert out.alert["incident_id"] == opened["incident_id"]
    assert out.alert["reasons"][-1] == (
        "released after flapping (6 changes held back): the incident of its earlier episodes"
    )
    assert [summary["first"] for summary in out.summaries] == [False], "it fires again"


def test_a_symptom_in_the_same_place_just_after_merges_and_says_why() -> None:
    s = Stream()
    root = s.send(0, "PgDown", "Postgres primary pg-1 is down", service="pg", cluster="eu")
    near = s.send(1.5, "Errors", "Checkout returns errors", service="web", cluster="eu")
    other = s.send(2, "Slow", "Search is slow", service="search", cluster="us")
    late = s.send(14, "Queue", "Mail queue grows", service="mail", cluster="eu")
    assert s.incident(near) == s.incident(root)
    assert s.merge_of(near)["reason"] == (
        f"started 90s after the newest alert of incident {root['incident_id']},"
        " in the same cluster=eu"
    )
    assert s.incident(other) != s.incident(root), "another cluster"
    assert s.incident(late) != s.incident(root), "too late"


def test_content_and_place_never_join_across_clusters() -> None:
    s = Stream()
    eu = s.send(0, "Probe", "Blackbox probe of api failed", service="api", cluster="eu")
    us = s.send(1, "Probe2", "Blackbox probe of web failed", service="web", cluster="us")
    eu2 = s.send(2, "Probe3", "Blackbox probe of db failed", service="db", cluster="eu")
    assert s.incident(us) != s.incident(eu) == s.incident(eu2)
    assert s.merge_of(eu2)["reason"].startswith("same template as incident")


def test_a_group_never_takes_an_alert_of_another_cluster_into_its_incident() -> None:
    s = Stream()
    eu = s.send(0, "Probe", "Probe of checkout failed", service="checkout", cluster="eu")
    us = s.send(1, "Probe", "Probe of checkout failed", service="checkout", cluster="us")
    assert eu["group"] == us["group"] and s.incident(eu) != s.incident(us)
    eu2 = s.send(
        2, "Probe", "Probe of checkout failed", service="checkout", cluster="eu", instance="c2"
    )
    assert eu2["incident_id"] == eu["incident_id"]


def test_a_group_session_stays_small_however_many_alerts_it_takes() -> None:
    window, session, sizes = Window(), None, []
    alert: dict[str, Any] = {
        "tenant": "t",
        "route": "root",
        "service": "db",
        "status": "firing",
        "labels": {},
        "group_key": None,
        "template_id": "x",
        "template": "Disk full on <*>",
        "reasons": [],
        "ends_at": None,
    }
    for n in range(50_000):  # one alert every second: one incident, then a new one per 4 h
        at = format_time(T0 + timedelta(seconds=n))
        one = {**alert, "id": f"a{n}", "fingerprint": f"f{n}", "seq": 1, "starts_at": at}
        decision = decide(session, None, one, window, "t|root|x")  # type: ignore[arg-type]
        session = decision.session
        if n % 5000 == 0:
            sizes.append(len(orjson.dumps(session)))
    assert session is not None and len(session["parts"]) <= MAX_PARTS
    assert max(sizes) < 1024, sizes


def test_the_live_incident_index_stays_small_however_many_incidents_open() -> None:
    s = Stream()
    for n in range(300):  # one template, a new incident every 10 minutes: all listed under it
        s.send(n * 10, f"Disk{n}", f"Disk full on host-{n}", service=f"s{n}")
        s(
            s.alert(
                n * 10,
                f"Disk{n}",
                f"Disk full on host-{n}",
                "resolved",
                ends=n * 10 + 6,
                service=f"s{n}",
            )
        )
    rows = s.pipeline.triage_rows.data
    listed = [row for key, row in rows.items() if key.startswith("acme|x|")]
    assert listed and all(len(row["ids"]) <= MAX_LISTED for row in listed)
    incidents = [key for key in rows if key.startswith("acme|i|")]
    assert len(incidents) <= 24 * 6 + 12, "closed or quiet incidents expire"
    assert max(len(orjson.dumps(v)) for v in rows.values()) < 64 * 1024


def test_group_rows_expire_as_event_time_passes() -> None:
    s = Stream()
    for n in range(300):  # 150 hours: a new alert every 30 minutes, resolved at once
        s.send(n * 30, f"A{n}", f"Thing {n} broke", service=f"s{n % 5}")
        s(
            s.alert(
                n * 30,
                f"A{n}",
                f"Thing {n} broke",
                "resolved",
                ends=n * 30 + 1,
                service=f"s{n % 5}",
            )
        )
    rows = s.pipeline.correlation_rows.data
    day = 48 + 4  # alerts of about a day (and the hours not yet swept)
    assert len([key for key in rows if "|f|" in key]) <= day, "fingerprints are forgotten"
    assert len([key for key in rows if key.startswith("acme|root|")]) <= 2 * day
    hours = [k.split("|")[2] for k in rows if k.startswith("\x00correlation|0|")]
    buckets = [int(hour) for hour in hours if hour.isdigit()]
    swept = rows["\x00correlation|0|swept"]
    assert buckets and min(buckets) > swept, "every passed hour's bucket was swept"


def _storm_in_one_batch(s: Stream) -> tuple[Triage, MemoryRows, Handled]:
    """Twenty new alerts of tenant ``acme`` in one call of triage: it detects a storm before
    any incident of them is known."""
    triage, rows = Triage(s.pipeline.snapshot, 0.35), MemoryRows()
    alerts = [
        {
            **s.alert(n / 10, f"A{_words(n)}", f"{_words(n)}pod broke", service=f"s{_words(n)}"),
            "seq": 1,
        }
        for n in range(20)
    ]
    batch = [Record("acme", alert, n) for n, alert in enumerate(alerts)]  # one message
    return triage, rows, triage.handle(ExpiringRows(rows, Expiry("\x00t"), 0), DEDUPED, batch)


def test_a_storm_detected_before_its_first_incidents_are_known_takes_the_first_one() -> None:
    """Live, triage runs ahead of correlation: a storm detected within one batch has no known
    incident yet and collapses into one of its own, until the first incident of its first
    minute is heard of — that one takes its place, and the rest merge into it."""
    s = Stream()
    snapshot = s.pipeline.snapshot
    triage, triage_rows, handled = _storm_in_one_batch(s)
    correlation_rows = MemoryRows()
    stored = [triage_rows.get("acme")]  # the rows later calls copy (a cached row is shared)
    frozen = [orjson.dumps(stored[0])]
    later = [
        {
            **s.alert(1.91 + n / 100, f"B{n}", f"{_words(n)}pod broke", service=f"s{_words(n)}"),
            "seq": 1,
        }
        for n in range(5)
    ]
    more = [Record("acme", alert, 20 + n) for n, alert in enumerate(later)]
    triage.handle(ExpiringRows(triage_rows, Expiry("\x00t"), 0), DEDUPED, more)
    stored.append(triage_rows.get("acme"))
    frozen.append(orjson.dumps(stored[1]))
    triaged = [value for topic, _, value in handled.outputs if topic == "alerts.triaged"]
    fresh = triaged[-1]["storm"]["incident_id"]
    assert not [o for o in handled.outputs if o[0] == "notify.events"], "nothing known to merge"
    records = [Record(a["group"], a, n) for n, a in enumerate(triaged)]
    placed = correlate(ExpiringRows(correlation_rows, Expiry("\x00c"), 0), records, snapshot)
    summaries = [Record(tenant, v, n) for n, (tenant, v) in enumerate(placed.summaries)]
    merges = triage.handle(ExpiringRows(triage_rows, Expiry("\x00t"), 0), OPENED, summaries)
    into = {a: merge["into"] for _, a, merge in merges.outputs if merge["kind"] == "merge"}
    first = summaries[0].value["incident_id"]
    assert into[fresh] == first, "the fresh storm incident went into the first one"
    incidents = {incident for incident, _, _ in placed.alerts}
    assert {into.get(i, i) for i in incidents} == {first}, "everything ends in one incident"
    assert frozen == [orjson.dumps(row) for row in stored], "a call changed a row it copied"


def test_a_storms_own_incident_gets_no_verdict_and_its_first_minute_takes_its_place() -> None:
    """The storm's own incident is heard of before the first incident of its first minute:
    triage judges no group that joins it, so its first page waits (the notify stage's
    ``VERDICT_WAIT_MS``), and the first incident's summary then merges it away and is judged
    itself."""
    s = Stream()
    triage, rows, handled = _storm_in_one_batch(s)
    triaged = [value for topic, _, value in handled.outputs if topic == "alerts.triaged"]
    fresh = triaged[-1]["storm"]["incident_id"]
    records = [Record(a["group"], a, n) for n, a in enumerate(triaged)]
    placed = correlate(ExpiringRows(MemoryRows(), Expiry("\x00c"), 0), records, s.pipeline.snapshot)
    own = [value for _, value in placed.summaries if value["incident_id"] == fresh]
    others = [value for _, value in placed.summaries if value["incident_id"] != fresh]
    assert own and not any(value["first"] for value in own), "groups join the storm's incident"
    summaries = [Record("acme", value, n) for n, value in enumerate(own + others)]

    def events(records: list[Record]) -> list[tuple[str, str]]:
        done = triage.handle(ExpiringRows(rows, Expiry("\x00t"), 0), OPENED, records)
        return [(key, value["kind"]) for topic, key, value in done.outputs if topic == EVENTS]

    assert events(summaries[: len(own)]) == [], "no verdict: one of its first minute may come"
    first = others[0]["incident_id"]
    heard = events(summaries[len(own) :])
    assert (fresh, "merge") in heard and (first, "judged") in heard
    assert (fresh, "judged") not in heard


def test_a_storm_of_twenty_thousand_distinct_alerts_keeps_every_row_under_64_kb() -> None:
    s = Stream()
    _baseline(s)
    for n in range(20_000):  # 20,000 alerts in 200 groups, a hundred hosts each, in 20 minutes
        group = n % 200
        s.send(
            70 + n / 1000,
            f"Node{group}",
            f"Node {group} down on host-{n}",
            service=f"s{group}",
            instance=f"host-{n}",
            cluster="eu-1",
        )
    rows = {**s.pipeline.triage_rows.data, **s.pipeline.correlation_rows.data}
    largest = max(rows, key=lambda key: len(orjson.dumps(rows[key])))
    assert len(orjson.dumps(rows[largest])) < 64 * 1024, largest
    roots = {s.pipeline.incident_of(i) for i in s.pipeline.into.values()}
    assert len(roots) == 1, "the storm is one incident"


def test_a_storm_of_800_new_services_at_once_keeps_every_row_under_64_kb() -> None:
    """Every new service bursts ten alerts: each service scope storms; the tenant's row keeps
    at most ``MAX_STORMS`` of those storms, and the incident that absorbs the services'
    incidents keeps the phases of its kept services only, not one per service."""
    s = Stream()
    _baseline(s)
    for n in range(8_000):  # 800 new services of ten alerts each, in 1.6 minutes
        service = n // 10
        summary = f"svc{service} down on host-{n}"
        s.send(70 + n / 5000, "Down", summary, service=f"svc{service}", instance=f"host-{n}")
    assert len(s.pipeline.triage_rows.data["acme"]["storms"]) <= MAX_STORMS
    rows = {**s.pipeline.triage_rows.data, **s.pipeline.correlation_rows.data}
    largest = max(rows, key=lambda key: len(orjson.dumps(rows[key])))
    assert len(orjson.dumps(rows[largest])) < 64 * 1024, largest


def test_an_incident_that_absorbs_a_thousand_services_keeps_a_bounded_row() -> None:
    storm: dict[str, Any] = {
        **{"id": "storm", "opened_ms": 0, "last_ms": 0, "parts": 1, "templates": {}},
        **{"places": {}, "services": [], "group_keys": [], "phases": {"tenant acme": 0}},
        "due": 0,
    }
    for n in range(1_000):
        service = f"svc{n}"
        absorbed = {**storm, "id": f"i{n}", "parts": 1, "services": [service], "group_keys": []}
        storm = united(storm, {**absorbed, "phases": {f"service {service}": n}}, n, storm=True)
    assert len(storm["phases"]) <= MAX_SERVICES + 1
    assert storm["phases"]["tenant acme"] == 0
    assert len(orjson.dumps(storm)) < 4 * 1024


def test_incidents_a_storm_opened_out_of_order_before_it_was_known_join_it() -> None:
    """Senders delay alerts: triage may see a storm's later alerts first. Those opened
    incidents before the storm was detected; they join it when their summaries come."""
    s = Stream()
    snapshot = s.pipeline.snapshot
    triage, triage_rows, correlation_rows = Triage(snapshot, 0.35), MemoryRows(), MemoryRows()
    alerts = [
        {
            **s.alert(
                n / 10,
                f"A{_words(n)}",
                f"{_words(n)}pod broke",
                service=f"s{_words(n)}",
                cluster="eu",
            ),
            "seq": 1,
        }
        for n in reversed(range(20))  # the latest first
    ]
    batch = [Record("acme", alert, n) for n, alert in enumerate(alerts)]
    handled = triage.handle(ExpiringRows(triage_rows, Expiry("\x00t"), 0), DEDUPED, batch)
    triaged = [value for topic, _, value in handled.outputs if topic == "alerts.triaged"]
    records = [Record(a["group"], a, n) for n, a in enumerate(triaged)]
    placed = correlate(ExpiringRows(correlation_rows, Expiry("\x00c"), 0), records, snapshot)
    summaries = [Record(tenant, v, n) for n, (tenant, v) in enumerate(placed.summaries)]
    merges = triage.handle(ExpiringRows(triage_rows, Expiry("\x00t"), 0), OPENED, summaries)
    into = {a: merge["into"] for _, a, merge in merges.outputs if merge["kind"] == "merge"}

    def end(incident: str) -> str:
        while incident in into:
            incident = into[incident]
        return incident

    incidents = {incident for incident, _, _ in placed.alerts}
    assert len({end(i) for i in incidents}) == 1, "every alert of the storm in one incident"


def _burst(s: Stream, start: float, count: int, every_s: float, tool: str) -> list[Alert]:
    """Distinct alerts of one rule on one service, ``every_s`` seconds apart."""
    return [
        s.send(
            start + n * every_s / 60,
            "Web400",
            f"{tool} request {n} answered 400",
            service="web",
            path=f"/{tool}/{start}/{n}",
        )
        for n in range(count)
    ]


def test_a_burst_after_a_pause_too_long_for_its_pace_is_another_incident() -> None:
    s = Stream()
    _baseline(s)
    first = _burst(s, 70, 200, 0.1, "dirb")  # 20 s at ten a second, a few pauses of 3 s inside
    first += _burst(s, 70 + 23 / 60, 50, 0.1, "dirb")
    second = _burst(s, 70 + 38 / 60, 200, 0.1, "wpscan")  # 10 s of silence before it
    assert len({s.incident(a) for a in first}) == 1, "3 s is within its phase"
    assert len({s.incident(a) for a in second}) == 1
    assert s.incident(first[0]) != s.incident(second[0]), "same rule, same service, new phase"
    assert first[0]["phase"]["service web"] != second[0]["phase"]["service web"]
    slow = [
        s.send(90 + n, "Web400", f"slow request {n} answered 400", service="web") for n in (0, 2, 4)
    ]
    assert len({s.incident(a) for a in slow}) == 1, "at a slow pace the group gap is the limit"


def test_an_incident_merged_as_it_opens_is_not_listed_for_a_storms_start() -> None:
    s = Stream()
    orders = s.send(0, "HighLatency", "p99 latency of orders is 900ms", service="orders")
    payments = s.send(0.5, "SlowPayments", "p99 latency of payments is 1200ms", service="pay")
    assert "same template" in s.merge_of(payments)["reason"]
    listed = [i for _, i in s.pipeline.triage_rows.get("acme")["opened"]]
    assert listed == [orders["incident_id"]], "its root is listed, it is not"
