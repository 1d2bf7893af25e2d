"""The notify stage's decisions over in-memory partitions (app.notify.step, events, simulate).

The same code the agent runs per Kafka message, without Kafka: alerts in, member rows and
incident heads, notifications logged and answered, feedback, timers, retention.
"""

from __future__ import annotations

from app.notify.muting import Muting
from app.notify.simulate import Simulation, config_of, sim_alert
from app.notify.step import VERDICT_WAIT_MS
from app.records import Alert, ms_time

MIN = 60_000
CONFIG = config_of(
    {
        "routes": {"receiver": "ops", "group_interval": "1m"},
        "notify": {"resend_after": "2m"},
    },
    "ops",
)


def _resolved(alert_id: str, incident_id: str, at_ms: int, started: int = 0, seq: int = 2):
    return sim_alert(
        alert_id,
        incident_id,
        started,
        status="resolved",
        ends_at=ms_time(at_ms),
        seq=seq,
        received_at=ms_time(at_ms),
    )


def test_an_alert_becomes_a_member_an_incident_and_one_page() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert("a1", "i1", 0))])
    (page,) = sim.sent
    assert (page["receiver"], page["change"], page["alert_ids"], page["alert_count"]) == (
        "ops",
        "firing",
        ["a1"],
        1,
    )
    (published,) = [alert for key, alert, _ in sim.out.enriched if key == "a1"]
    assert published["incident_id"] == "i1" and "seq" not in published
    assert "features" not in published
    member = sim.row("members", "a1", sim.partition("i1"))
    assert member["home"] == "i1" and member["features"] == {
        "kind": "DiskFull",
        "severity": "warning",
    }
    head = sim.row("incidents", "i1")
    assert (head["status"], head["alerts"], head["visible"]) == ("firing", 1, 1)
    (ok, incident_id, record), *_ = sim.out.results
    assert ok and incident_id == "i1" and record["notification_id"] == page["notification_id"]


def test_a_new_incident_pages_once_triage_let_it_stand() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert("a1", "i1", 0))], awaiting=["i1"])
    assert sim.sent == []  # triage may still merge it into another incident
    sim.event("i1", {"kind": "judged"})
    (page,) = sim.sent
    assert (page["incident_id"], page["change"], page["alert_ids"]) == ("i1", "firing", ["a1"])
    sim.event("i1", {"kind": "judged"})  # a replayed verdict sends nothing again
    assert len(sim.sent) == 1


def test_a_new_incident_merged_before_triages_verdict_pages_nobody() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("live", sim_alert("a1", "live", 0))])
    sim.alerts([("new", sim_alert("a2", "new", 1_000))], awaiting=["new"])
    merge = {"kind": "merge", "into": "live", "reason": "same template", "at_ms": 1_000}
    sim.event("new", merge)
    sim.tick(10 * MIN)
    assert [(n["incident_id"], n["change"]) for n in sim.sent] == [
        ("live", "firing"),
        ("live", "update"),  # its receivers hear of the alert that joined, not of a retraction
    ]
    assert sim.row("incidents", "new")["merged_into"] == "live"


def test_a_verdict_that_never_comes_holds_the_first_page_for_a_while_only() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert("a1", "i1", 0))], awaiting=["i1"])
    sim.tick(VERDICT_WAIT_MS - 1)
    assert sim.sent == []
    sim.tick(VERDICT_WAIT_MS)
    assert [(n["incident_id"], n["change"]) for n in sim.sent] == [("i1", "firing")]


def test_a_backlog_drained_faster_than_its_event_time_still_waits_for_the_verdict() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert("a1", "i1", 0))], awaiting=["i1"])
    sim.alerts([("i1", sim_alert("a2", "i1", MIN))])  # a minute of event time at once
    assert sim.sent == [], "the worker's clock has not moved: triage may still be behind"
    sim.event("i1", {"kind": "judged"})
    (page,) = sim.sent
    assert page["alert_ids"] == ["a1", "a2"]


def _storm_alert(alert_id: str, incident_id: str, at_ms: int) -> Alert:
    """An alert that triage's storm hint put in the storm's own incident."""
    hint = {"scope": "tenant t", "incident_id": incident_id, "words": "alert storm"}
    return sim_alert(alert_id, incident_id, at_ms, storm=hint)


def test_a_storms_own_incident_merged_into_its_first_minute_pages_nobody() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("first", sim_alert("a1", "first", 0))])
    sim.alerts(
        [("storm", _storm_alert("a2", "storm", 500)), ("storm", _storm_alert("a3", "storm", 600))]
    )
    assert [n["incident_id"] for n in sim.sent] == ["first"]  # no verdict on the storm's yet
    merge = {"kind": "merge", "into": "first", "reason": "the storm collapses", "at_ms": 700}
    sim.event("storm", merge)
    sim.tick(10 * MIN)
    assert [(n["incident_id"], n["change"]) for n in sim.sent] == [
        ("first", "firing"),
        ("first", "update"),
    ]


def test_a_storms_own_incident_that_stands_pages_once_the_verdict_wait_is_over() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("storm", _storm_alert("a1", "storm", 0))])
    sim.tick(VERDICT_WAIT_MS - 1)
    sim.alerts([("storm", _storm_alert("a2", "storm", VERDICT_WAIT_MS - 1))])
    assert sim.sent == []
    sim.tick(VERDICT_WAIT_MS)
    assert [(n["incident_id"], n["alert_ids"]) for n in sim.sent] == [("storm", ["a1", "a2"])]
    sim.alerts([("storm", _storm_alert("a3", "storm", 2 * MIN))])  # its head is not new
    sim.tick(2 * MIN)
    assert [n["change"] for n in sim.sent] == ["firing", "update"]


def test_a_replayed_alert_is_published_again_and_changes_nothing() -> None:
    sim = Simulation(CONFIG)
    alert = sim_alert("a1", "i1", 0)
    sim.alerts([("i1", alert)])
    head = sim.row("incidents", "i1")
    sim.alerts([("i1", alert)])  # the same seq: applied already
    assert sim.row("incidents", "i1") == head
    assert len(sim.sent) == 1
    assert [key for key, _, _ in sim.out.enriched] == ["a1", "a1"]


def test_resolving_every_alert_sends_resolved_once_with_what_resolved() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert("a1", "i1", 0)), ("i1", sim_alert("a2", "i1", 0))])
    sim.alerts([("i1", _resolved("a1", "i1", 2 * MIN))])
    sim.alerts([("i1", _resolved("a2", "i1", 3 * MIN))])
    changes = [(n["change"], n["added_alert_ids"], n["resolved_alert_ids"]) for n in sim.sent]
    assert changes == [
        ("firing", ["a1", "a2"], []),
        ("update", [], ["a1"]),
        ("resolved", [], ["a2"]),
    ]
    sim.tick(10 * MIN)
    assert len(sim.sent) == 3


def test_updates_wait_for_the_group_interval_and_come_from_the_due_index() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert("a1", "i1", 0))])
    sim.alerts([("i1", sim_alert("a2", "i1", 10_000))])
    assert len(sim.sent) == 1, "a second notification waits for the group interval"
    assert sim.row("timers", "i1")["due_ms"] == MIN
    sim.tick(MIN)
    assert [n["added_alert_ids"] for n in sim.sent] == [["a1"], ["a2"]]
    assert sim.row("timers", "i1") is None, "nothing pending: no timer row"


def test_a_silenced_alert_flows_suppressed_and_pages_nobody() -> None:
    silence = {
        "id": "s1",
        "matchers": [{"name": "service", "value": "db", "isRegex": False, "isEqual": True}],
        "starts_at": ms_time(0),
        "ends_at": ms_time(60 * MIN),
        "created_by": "ann",
        "comment": "migration",
        "updated_at": ms_time(0),
    }
    sim = Simulation(CONFIG, muting=Muting.of([silence], ()))
    sim.alerts([("i1", sim_alert("a1", "i1", MIN))])
    ((_, published, _),) = sim.out.enriched
    assert published["decision"] == "suppress"
    assert published["reasons"][-1].startswith("silenced by s1 (ann: migration)")
    assert sim.sent == []
    assert sim.row("incidents", "i1")["muted_ids"] == ["a1"]


def test_acknowledging_tells_the_receivers_once_and_labels_the_alert() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert("a1", "i1", 0))])
    ack = {
        "kind": "ack",
        "alert_id": "a1",
        "incident_id": "i1",
        "actionable": True,
        "by": "ann",
        "at": ms_time(MIN),
        "scope": "alert",
    }
    sim.event("i1", ack)
    sim.event("i1", ack)  # the same feedback again (another record): nothing more
    assert [n["change"] for n in sim.sent] == ["firing", "acknowledged"]
    (example,) = sim.out.examples
    assert (example["id"], example["label"], example["source"]) == ("a1:human", True, "ack")
    assert example["features"] == {"kind": "DiskFull", "severity": "warning"}
    ((key, fact),) = sim.out.facts
    assert key == "t|fp-a1" and fact["kind"] == "ack"
    head = sim.row("incidents", "i1")
    assert head["acknowledged"]["by"] == "ann"
    assert sim.row("members", "a1", sim.partition("i1"))["acknowledged"] is True


def test_resolving_the_incident_closes_it_and_sends_resolved_once() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert(f"a{n}", "i1", 0)) for n in range(3)])
    for n in range(3):  # what POST /api/v1/incidents/i1/resolve writes: one per alert
        sim.event(
            "i1",
            {
                "kind": "resolve",
                "alert_id": f"a{n}",
                "incident_id": "i1",
                "actionable": False,
                "by": "ann",
                "at": ms_time(MIN),
                "scope": "incident",
            },
        )
    assert [n["change"] for n in sim.sent] == ["firing", "resolved"]
    assert sim.sent[-1]["status"] == "resolved"
    head = sim.row("incidents", "i1")
    assert head["status"] == "resolved" and head["closed"]["by"] == "ann"
    assert sorted(e["alert_id"] for e in sim.out.examples) == ["a0", "a1", "a2"]
    assert {e["label"] for e in sim.out.examples} == {False}


def test_a_page_nobody_answered_that_resolves_soon_is_weak_noise() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert("a1", "i1", 0)), ("i2", sim_alert("a2", "i2", 0))])
    sim.alerts([("i1", _resolved("a1", "i1", 5 * MIN)), ("i2", _resolved("a2", "i2", 50 * MIN))])
    (weak,) = sim.out.examples
    assert (weak["alert_id"], weak["label"], weak["source"]) == ("a1", False, "self_resolve")


def test_feedback_without_its_incident_finds_the_member_in_every_partition() -> None:
    sim = Simulation(CONFIG, partitions=4)
    sim.alerts([("i1", sim_alert("a1", "i1", 0))])
    ack = {"kind": "ack", "alert_id": "a1", "incident_id": None, "actionable": True}
    ack |= {"by": "ann", "at": ms_time(MIN), "scope": "alert", "search": True}
    for partition in range(4):  # what agents.incident_feedback sends for it
        sim.event("", ack, partition=partition)
    assert [n["change"] for n in sim.sent] == ["firing", "acknowledged"]
    assert len(sim.out.examples) == 1


def test_a_send_left_in_flight_by_a_dead_worker_is_sent_again_after_resend_after() -> None:
    sim = Simulation(CONFIG, answer=False)
    sim.alerts([("i1", sim_alert("a1", "i1", 0))])
    (first,) = sim.sent
    sim.running.clear()  # the worker that started it died
    sim.timers[sim.partition("i1")].check_later(0, "i1|ops|firing", "i1")  # after a rebuild
    sim.wall_ms = MIN
    sim.tick(MIN)
    assert len(sim.sent) == 1, "younger than resend_after: it may still be under way"
    sim.wall_ms = 3 * MIN
    sim.tick(3 * MIN)
    assert [n["notification_id"] for n in sim.sent] == [first["notification_id"]] * 2


def test_log_entries_of_an_incident_resolved_long_ago_go() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert("a1", "i1", 0))])
    sim.alerts([("i1", _resolved("a1", "i1", MIN))])
    assert sim.row("nflog", "i1|ops|firing", sim.partition("i1")) is not None
    sim.tick(3 * 24 * 60 * MIN)
    partition = sim.partition("i1")
    assert sim.row("nflog", "i1|ops|firing", partition) is None
    assert sim.row("nflog", "i1|ops|resolved", partition) is None
    assert sim.row("incidents", "i1")["status"] == "resolved", "the incident stays"
    for day in range(4, 32):  # each call sweeps up to two days of buckets
        sim.tick(day * 24 * 60 * MIN)
    assert sim.row("incidents", "i1") is None, "resolved 30 days ago: it goes too"
    assert sim.row("members", "a1", partition) is None


def test_a_storm_of_50000_alerts_keeps_every_row_small() -> None:
    sim = Simulation(CONFIG)
    for start in range(0, 50_000, 500):
        sim.alerts([("storm", sim_alert(f"a{n}", "storm", n)) for n in range(start, start + 500)])
    head = sim.row("incidents", "storm")
    assert head["alerts"] == 50_000 and head["firing"] == 50_000
    assert sim.sizes.largest < 16_000, sim.sizes.largest
    sim.tick(10 * MIN)
    notification = sim.sent[-1]
    assert notification["change"] == "update"
    assert notification["alert_count"] == 50_000 and len(notification["alert_ids"]) == 20


def test_a_crash_after_the_rows_were_written_sends_the_outputs_again_counting_once() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("old", sim_alert("a1", "old", 0)), ("j", sim_alert("b1", "j", 0))])
    sim.event("old", {"kind": "merge", "into": "j", "reason": "storm", "at_ms": MIN})
    late = sim_alert("a2", "old", 2 * MIN)
    sim.alerts([("old", late)], crash=True)  # rows written, nothing sent
    assert sim.row("incidents", "j")["alerts"] == 2
    assert [key for key, _, _ in sim.out.enriched].count("a2") == 0
    sim.alerts([("old", late)])  # the message again: its outputs go out now, once counted
    assert [key for key, _, _ in sim.out.enriched].count("a2") == 1
    assert sim.row("incidents", "j")["alerts"] == 3
    sim.alerts([("old", late)])  # and a later replay changes nothing
    assert sim.row("incidents", "j")["alerts"] == 3


def test_a_crash_before_a_decided_send_left_sends_it_after_resend_after() -> None:
    sim = Simulation(CONFIG)
    sim.wall_ms = 10 * MIN
    sim.alerts([("i1", sim_alert("a1", "i1", 0))], crash=True)  # logged in flight, not sent
    assert sim.sent == []
    sim.alerts([("i1", sim_alert("a1", "i1", 0))])  # the replay finds it logged: no new send
    assert sim.sent == []
    sim.wall_ms = 11 * MIN
    sim.tick(MIN)
    assert sim.sent == [], "not before resend_after (2 minutes): it may still be on its way"
    sim.wall_ms = 13 * MIN
    sim.tick(MIN)
    (page,) = sim.sent
    assert page["change"] == "firing" and page["alert_ids"] == ["a1"]
