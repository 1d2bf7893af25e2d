"""The labels rules: feedback joined with the features the model saw."""

from __future__ import annotations

from typing import Any

from app.learning.labels import FEEDBACK, OBSERVATIONS, LabelPolicy, expired, join

POLICY = LabelPolicy(self_resolve_ms=15 * 60_000, self_resolve_weight=0.3)


def _seen(status: str = "firing", ends_at: str | None = None, decision: str = "notify") -> dict:
    return {
        "alert_id": "a1",
        "tenant": "t",
        "kind": "DiskFull",
        "status": status,
        "features": {"kind": "DiskFull", "status_seen": status},
        "score": 0.4,
        "decision": decision,
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": ends_at,
    }


def _said(kind: str, actionable: bool, at: str = "2026-01-01T00:05:00Z") -> dict:
    return {"alert_id": "a1", "kind": kind, "actionable": actionable, "by": "ann", "at": at}


def _run(*records: tuple[str, dict[str, Any]]) -> list[dict]:
    state, examples, offsets = None, [], {OBSERVATIONS: 0, FEEDBACK: 0}
    for topic, record in records:
        offsets[topic] += 1
        state, out = join(state, record, topic, offsets[topic], POLICY)
        examples += out
    return examples


def test_acknowledged_is_actionable_and_resolved_not_actionable_is_noise() -> None:
    (acked,) = _run((OBSERVATIONS, _seen()), (FEEDBACK, _said("ack", True)))
    assert (acked["label"], acked["weight"], acked["source"]) == (True, 1.0, "ack")
    (noise,) = _run((OBSERVATIONS, _seen()), (FEEDBACK, _said("resolve", False)))
    assert (noise["label"], noise["weight"], noise["source"]) == (False, 1.0, "resolve")


def test_trains_on_the_features_of_the_first_scoring() -> None:
    resolved = _seen("resolved", "2026-01-01T02:00:00Z")
    (example,) = _run(
        (OBSERVATIONS, _seen()), (OBSERVATIONS, resolved), (FEEDBACK, _said("ack", True))
    )
    assert example["features"]["status_seen"] == "firing"


def test_first_feedback_labels_the_alert_once() -> None:
    examples = _run(
        (OBSERVATIONS, _seen()),
        (FEEDBACK, _said("ack", True)),
        (FEEDBACK, _said("resolve", False, "2026-01-01T00:09:00Z")),
    )
    assert [e["label"] for e in examples] == [True]


def test_feedback_before_its_observation_waits_for_it() -> None:
    examples = _run((FEEDBACK, _said("resolve", False)), (OBSERVATIONS, _seen()))
    assert [(e["id"], e["label"]) for e in examples] == [("a1:human", False)]


def test_a_page_that_resolves_by_itself_soon_is_weak_noise() -> None:
    soon = _seen("resolved", "2026-01-01T00:10:00Z")
    (weak,) = _run((OBSERVATIONS, _seen()), (OBSERVATIONS, soon))
    assert (weak["label"], weak["weight"], weak["source"]) == (False, 0.3, "self_resolve")
    late = _seen("resolved", "2026-01-01T00:20:00Z")
    assert _run((OBSERVATIONS, _seen()), (OBSERVATIONS, late)) == []


def test_self_resolve_says_nothing_of_alerts_nobody_was_paged_for() -> None:
    for decision in ("digest", "suppress"):
        soon = _seen("resolved", "2026-01-01T00:10:00Z", decision)
        assert _run((OBSERVATIONS, _seen(decision=decision)), (OBSERVATIONS, soon)) == []


def test_people_after_a_self_resolve_still_label_it() -> None:
    soon = _seen("resolved", "2026-01-01T00:10:00Z")
    examples = _run((OBSERVATIONS, _seen()), (OBSERVATIONS, soon), (FEEDBACK, _said("ack", True)))
    assert [(e["source"], e["label"]) for e in examples] == [("self_resolve", False), ("ack", True)]


def test_a_replay_sends_every_example_again_and_changes_nothing() -> None:
    state, _ = join(None, _seen(), OBSERVATIONS, 5, POLICY)
    state, first = join(state, _said("ack", True), FEEDBACK, 9, POLICY)
    again_state, again = join(state, _said("ack", True), FEEDBACK, 9, POLICY)
    assert again == first and again_state == state
    assert join(state, _seen(), OBSERVATIONS, 5, POLICY)[1] == first


def test_entries_expire_after_keep_ms() -> None:
    state, _ = join(None, _seen(), OBSERVATIONS, 1, POLICY)
    day = 24 * 3_600_000
    start = state["touched_ms"]
    assert not expired(state, start + 6 * day, POLICY)
    assert expired(state, start + 8 * day, POLICY)
