"""Merges: an incident joins another, becomes a redirect, and hands its alerts over.

The pure path (app.notify.incident ``redirect``/``absorb``, app.notify.plan) and the stage
over in-memory partitions (app.notify.simulate): what the merged incident's receivers hear,
what the other incident holds, later alerts forwarded, replays applied once, chains of merges.
"""

from __future__ import annotations

from app.notify.incident import change, fold
from app.notify.merge import absorb, redirect, summary
from app.notify.plan import plan
from app.notify.simulate import Simulation, config_of, sim_alert
from app.records import ms_time as at

MIN = 60_000
CONFIG = config_of({"routes": {"receiver": "ops", "group_interval": "5m"}}, "ops")


def _merge(into: str, at_ms: int) -> dict[str, object]:
    return {"kind": "merge", "into": into, "reason": "one storm", "at_ms": at_ms}


def test_the_merged_incidents_receivers_hear_its_alerts_are_gone() -> None:
    old = fold(None, change("a1", None, ["firing", False], at_ms=0, incident_id="old"))
    old, sends, _ = plan(old, CONFIG, 0)
    assert [s.change for s in sends] == ["firing"]
    old = redirect(old, "storm", 3 * MIN, "one storm")
    assert (old["status"], old["merged_into"], old["visible"]) == ("resolved", "storm", 0)
    old, sends, due = plan(old, CONFIG, 3 * MIN)
    assert [(s.change, s.resolved) for s in sends] == [("resolved", ("a1",))]
    assert due is None


def test_the_joined_incident_takes_the_counts_and_tells_what_was_added() -> None:
    old = fold(None, change("a1", None, ["firing", False], at_ms=0, incident_id="old"))
    storm = fold(None, change("b1", None, ["firing", False], at_ms=0, incident_id="storm"))
    storm, _, _ = plan(storm, CONFIG, 0)
    storm = absorb(storm, summary(old), "storm", MIN, "one storm")
    assert (storm["alerts"], storm["firing"], storm["merged_from"]) == (2, 2, ["old"])
    storm, sends, due = plan(storm, CONFIG, MIN)
    assert sends == [] and due == 5 * MIN  # one update per group interval
    storm, sends, _ = plan(storm, CONFIG, 5 * MIN)
    assert [(s.change, s.added) for s in sends] == [("update", ("a1",))]
    assert "incident old merged into it" in storm["reasons"][0]


def test_later_alerts_of_a_merged_incident_are_forwarded_and_applied_once() -> None:
    sim = Simulation(CONFIG, partitions=4)
    sim.alerts([("old", sim_alert("a1", "old", 0)), ("storm", sim_alert("b1", "storm", 0))])
    sim.event("old", _merge("storm", MIN))
    (_, again, _) = sim.out.enriched[-1]  # its alerts are published again, in the storm
    assert (again["id"], again["incident_id"], again["merged_from"]) == ("a1", "storm", "old")
    assert [(n["incident_id"], n["change"]) for n in sim.sent][-1] == ("old", "resolved")
    assert sim.sent[-1]["merged_into"] == "storm"
    assert sim.row("incidents", "storm")["alerts"] == 2

    late = sim_alert("a2", "old", 2 * MIN)
    sim.alerts([("old", late)])
    sim.alerts([("old", late)])  # replayed: published again, counted once
    sim.alerts(
        [
            (
                "old",
                {
                    **sim_alert("a1", "old", 0),
                    "status": "resolved",
                    "seq": 2,
                    "ends_at": at(3 * MIN),
                },
            )
        ]
    )
    head = sim.row("incidents", "storm")
    assert (head["alerts"], head["firing"]) == (3, 2)
    published = [alert for key, alert, _ in sim.out.enriched if key == "a2"]
    assert len(published) == 2 and published[0]["incident_id"] == "storm"
    assert [a["incident_id"] for k, a, _ in sim.out.enriched if k == "a1"] == [
        "old",
        "storm",
        "storm",
    ]
    assert published[0]["merged_from"] == "old"
    assert sim.row("members", "a2", sim.partition("old"))["home"] == "old"

    sim.event("old", _merge("storm", MIN))  # a replayed merge changes nothing
    assert sim.row("incidents", "storm")["alerts"] == 3


def test_feedback_that_searched_every_partition_acts_on_the_incident_it_merged_into() -> None:
    sim = Simulation(CONFIG, partitions=4)
    assert sim.partition("old") != sim.partition("first")
    sim.alerts([("old", sim_alert("a1", "old", 0)), ("first", sim_alert("b1", "first", 0))])
    sim.event("old", _merge("first", MIN))
    ack = {"kind": "ack", "alert_id": "a1", "incident_id": None, "actionable": True}
    ack |= {"by": "ann", "at": at(2 * MIN), "scope": "alert", "search": True}
    for partition in range(4):  # what agents.incident_feedback sends when it names no incident
        sim.event("", ack, partition=partition)
    assert sim.row("incidents", "first")["acknowledged"]["by"] == "ann"
    assert sim.row("members", "a1", sim.partition("old"))["acknowledged"] is True


def test_a_merge_before_any_alert_leaves_a_bare_redirect() -> None:
    sim = Simulation(CONFIG)
    sim.event("old", _merge("storm", 0))
    sim.alerts([("old", sim_alert("a1", "old", MIN))])
    head = sim.row("incidents", "storm")
    assert head is not None and head["alerts"] == 1 and head["sample"] == [["a1", "old"]]
    assert [n["incident_id"] for n in sim.sent] == ["storm"]


def test_a_bare_redirect_goes_as_a_merged_incidents_head_does() -> None:
    sim = Simulation(CONFIG)
    sim.event("old", _merge("storm", 0))
    assert sim.row("incidents", "old")["merged_into"] == "storm"
    for day in range(1, 32):  # each call sweeps up to two days of buckets
        sim.tick(day * 24 * 60 * MIN)
    assert sim.row("incidents", "old") is None, "merged 31 days ago: it goes"


def test_a_bare_redirects_merge_delivered_again_hands_nothing_over() -> None:
    """A merge that comes again at the same position (its partition moved to another worker
    before the commit) found no handover on a bare redirect and went to the dead letters."""
    sim = Simulation(CONFIG)
    sim.event("old", _merge("storm", 0))
    sim.offsets[sim.partition("old")] -= 1  # the next message has the same position
    sim.event("old", _merge("storm", 0))
    assert sim.row("incidents", "old")["merged_into"] == "storm"
    assert sim.row("incidents", "storm") is None  # nothing was handed over, either time


def test_merges_chain_and_a_loop_ends_in_dead_letters() -> None:
    sim = Simulation(CONFIG)
    sim.alerts([("i1", sim_alert("a1", "i1", 0))])
    sim.event("i1", _merge("i2", MIN))
    sim.event("i2", _merge("i3", 2 * MIN))
    assert sim.row("incidents", "i3")["alerts"] == 1
    sim.alerts([("i1", sim_alert("a2", "i1", 3 * MIN))])  # i1 → i2 → i3
    assert sim.row("incidents", "i3")["alerts"] == 2
    try:  # a loop: the handover goes round until the stage gives up on it
        sim.event("i3", _merge("i1", 4 * MIN))
    except ValueError as error:  # in the worker: the record goes to alerts.deadletter
        assert "went round" in str(error)
    else:
        raise AssertionError("a merge loop went unnoticed")
