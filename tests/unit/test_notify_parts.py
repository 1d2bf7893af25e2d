"""Alerts of another partition's incident kept where correlation placed them (app.notify.parts).

A storm's incident lives in the partition of its id; its alerts are placed in their groups'
partitions. Each stays there in the incident's part, published from there, and the incident
hears only its change — counted once through replays and crashes, its first page held for
triage when a storm hint names it, feedback finding it, and merges followed.
"""

from __future__ import annotations

from app.notify.parts import is_part, whole
from app.notify.simulate import Simulation, config_of, sim_alert
from app.notify.step import VERDICT_WAIT_MS
from app.records import Alert, ms_time

MIN = 60_000
CONFIG = config_of({"routes": {"receiver": "ops", "group_interval": "1m"}}, "ops")


def _placed_elsewhere() -> tuple[Simulation, int]:
    """Four partitions, and one that is not the partition of incident ``storm``."""
    sim = Simulation(CONFIG, partitions=4)
    return sim, (sim.partition("storm") + 1) % 4


def _published(sim: Simulation, alert_id: str) -> list[dict[str, object]]:
    return [alert for key, alert, _ in sim.out.enriched if key == alert_id]


def _resolved(alert_id: str, at_ms: int) -> Alert:
    return sim_alert(alert_id, "storm", 0, status="resolved", ends_at=ms_time(at_ms), seq=2)


def test_an_alert_of_another_partitions_incident_is_kept_and_published_where_it_was_placed():
    sim, here = _placed_elsewhere()
    sim.alerts([("storm", sim_alert("a1", "storm", 0))], at=here)
    member = sim.row("members", "a1", here)
    part = member["home"]
    assert is_part(part) and whole(part) == "storm" and sim.partition(part) == here
    assert sim.row("members", "a1", sim.partition("storm")) is None
    (published,) = _published(sim, "a1")
    assert published["incident_id"] == "storm" and "merged_from" not in published
    head = sim.row("incidents", "storm")
    assert (head["alerts"], head["visible"], head["sample"]) == (1, 1, [["a1", part]])
    assert head["labels"]["alertname"] == "DiskFull", "routing sees the first alert's labels"
    assert [(n["incident_id"], n["change"], n["alert_ids"]) for n in sim.sent] == [
        ("storm", "firing", ["a1"])
    ]


def test_its_changes_and_their_replays_count_once_in_the_incident():
    sim, here = _placed_elsewhere()
    sim.alerts([("storm", sim_alert("a1", "storm", 0))], at=here)
    sim.alerts([("storm", sim_alert("a1", "storm", 0))], at=here)  # the same seq again
    sim.alerts([("storm", _resolved("a1", 2 * MIN))], at=here)
    sim.alerts([("storm", _resolved("a1", 2 * MIN))], at=here)
    head = sim.row("incidents", "storm")
    assert (head["alerts"], head["firing"], head["status"]) == (1, 0, "resolved")
    assert [n["change"] for n in sim.sent] == ["firing", "resolved"]
    assert len(_published(sim, "a1")) == 4  # each record published (again, when replayed)


def test_a_crash_before_its_change_was_sent_sends_it_on_the_replay_once():
    sim, here = _placed_elsewhere()
    sim.alerts([("storm", sim_alert("a1", "storm", 0))], at=here, crash=True)
    assert sim.row("incidents", "storm") is None and _published(sim, "a1") == []
    sim.alerts([("storm", sim_alert("a1", "storm", 0))], at=here)
    sim.alerts([("storm", sim_alert("a1", "storm", 0))], at=here)
    assert sim.row("incidents", "storm")["alerts"] == 1
    assert [n["change"] for n in sim.sent] == ["firing"]


def test_a_storm_hint_that_names_the_incident_holds_its_first_page_for_triage():
    sim, here = _placed_elsewhere()
    hint = {"scope": "tenant t", "incident_id": "storm", "words": "alert storm"}
    sim.alerts([("storm", sim_alert("a1", "storm", 0, storm=hint))], at=here)
    assert sim.sent == [], "a storm's own incident: one of the storm's first minute may take it"
    sim.tick(VERDICT_WAIT_MS)
    assert [(n["incident_id"], n["alert_ids"]) for n in sim.sent] == [("storm", ["a1"])]


def test_feedback_on_the_incident_reaches_the_member_in_its_part():
    sim, here = _placed_elsewhere()
    sim.alerts([("storm", sim_alert("a1", "storm", 0))], at=here)
    ack = {"kind": "ack", "alert_id": "a1", "incident_id": "storm", "actionable": True}
    sim.event("storm", ack | {"by": "ann", "at": ms_time(MIN), "scope": "alert"})
    assert [n["change"] for n in sim.sent] == ["firing", "acknowledged"]
    assert sim.row("members", "a1", here)["acknowledged"] is True
    assert [example["alert_id"] for example in sim.out.examples] == ["a1"]


def test_once_the_incident_merged_the_part_publishes_its_alerts_in_the_other_one():
    sim, here = _placed_elsewhere()
    sim.alerts([("first", sim_alert("b1", "first", 0))])
    sim.alerts([("storm", sim_alert("a1", "storm", 0))], at=here)
    merge = {"kind": "merge", "into": "first", "reason": "one storm", "at_ms": MIN}
    sim.event("storm", merge)
    again = _published(sim, "a1")[-1]  # its sample's alerts are published again, in the other
    assert (again["incident_id"], again["merged_from"]) == ("first", "storm")
    sim.alerts([("storm", sim_alert("a2", "storm", 2 * MIN))], at=here)  # sent before it knew
    sim.alerts([("storm", sim_alert("a3", "storm", 3 * MIN))], at=here)
    assert [_published(sim, a)[-1]["incident_id"] for a in ("a2", "a3")] == ["storm", "first"]
    assert _published(sim, "a3")[-1]["merged_from"] == "storm"
    head = sim.row("incidents", "first")
    assert (head["alerts"], head["firing"]) == (4, 4)
    sim.alerts([("storm", _resolved("a3", 4 * MIN))], at=here)  # forwarded by the redirect
    assert sim.row("incidents", "first")["firing"] == 3


def test_feedback_given_by_alert_acts_on_the_incident_of_its_part():
    sim, here = _placed_elsewhere()
    sim.alerts([("storm", sim_alert("a1", "storm", 0))], at=here)
    part = sim.row("members", "a1", here)["home"]
    ack = {"kind": "ack", "alert_id": "a1", "actionable": True, "by": "ann", "at": ms_time(MIN)}
    sim.event(part, ack | {"incident_id": part, "scope": "alert"})  # POST /alerts/a1/acknowledge
    assert sim.row("incidents", "storm")["acknowledged"]["by"] == "ann"
    assert sim.row("members", "a1", here)["acknowledged"] is True
    assert [n["change"] for n in sim.sent] == ["firing", "acknowledged"]


def test_feedback_that_searched_every_partition_acts_on_the_incident_of_its_part():
    sim, here = _placed_elsewhere()
    sim.alerts([("storm", sim_alert("a1", "storm", 0))], at=here)
    ack = {"kind": "ack", "alert_id": "a1", "incident_id": None, "actionable": True}
    ack |= {"by": "ann", "at": ms_time(MIN), "scope": "alert", "search": True}
    for partition in range(4):
        sim.event("", ack, partition=partition)
    assert sim.row("incidents", "storm")["acknowledged"]["by"] == "ann"
    assert [n["change"] for n in sim.sent] == ["firing", "acknowledged"]
