"""The per-tenant learner: prior, learning once, progressive validation, exact restore."""

from __future__ import annotations

from app.learning.model import PRIOR_WEIGHT, Example, Learner


def _example(n: int, kind: str, label: bool, source: str = "ack") -> Example:
    return {
        "id": f"{kind}-{n}:human",
        "alert_id": f"{kind}-{n}",
        "tenant": "t",
        "kind": kind,
        "features": {"kind": kind, "severity": "warning", "label:host": f"h{n}"},
        "label": label,
        "weight": 1.0,
        "source": source,
        "at_ms": 1_000 * n,
    }


def _taught(rounds: int) -> Learner:
    learner = Learner(0.35)
    for n in range(rounds):
        learner.learn(_example(n, "Noisy", False, "resolve"))
        learner.learn(_example(n, "Real", True))
    return learner


def test_without_feedback_the_score_is_the_severity_prior() -> None:
    learner = Learner(0.35)
    assert learner.predict({"severity": "info"})[0] == 0.2
    assert learner.predict({"severity": "critical"})[0] == 0.9


def test_labels_separate_kinds_and_the_prior_fades() -> None:
    learner = _taught(40)
    noisy, _ = learner.predict({"kind": "Noisy", "severity": "warning", "label:host": "new"})
    real, _ = learner.predict({"kind": "Real", "severity": "warning", "label:host": "new"})
    assert noisy < 0.35 < real
    assert learner.weight >= PRIOR_WEIGHT
    assert learner.kinds["Noisy"] == {"actionable": 0.0, "noise": 40.0, "last_ack_ms": None}
    assert learner.kinds["Real"]["last_ack_ms"] == 39_000


def test_an_example_is_learned_once() -> None:
    learner = _taught(3)
    before = learner.dump()
    assert learner.learn(_example(1, "Real", True)) is False
    assert learner.dump() == before


def test_progressive_validation_predicts_before_learning() -> None:
    learner = _taught(8)
    report = learner.report()
    assert report["samples"] == 16 and report["validated"] == 16
    c = report["confusion"]
    assert c["tp"] + c["fn"] == 8 and c["fp"] + c["tn"] == 8
    assert c["fp"] >= 1, "the first noise labels came while the prior still said 0.4"
    assert report["recall"] == 1.0 and 0 < report["precision"] < 1
    assert report["roc_auc"] is not None and report["roc_auc"] > 0.7


def test_weak_labels_teach_but_are_not_validated() -> None:
    learner = Learner(0.35)
    weak = {**_example(1, "Noisy", False, "self_resolve"), "weight": 0.3}
    learner.learn(weak)
    assert learner.report()["validated"] == 0 and learner.weight == 0.3


def test_a_restored_learner_scores_and_learns_exactly_as_the_original() -> None:
    original = _taught(5)
    restored = Learner.load(original.dump(), 0.35)
    probe = {"kind": "Noisy", "severity": "warning", "label:host": "h9"}
    assert restored.predict(probe) == original.predict(probe)
    original.learn(_example(7, "Noisy", False, "resolve"))
    restored.learn(_example(7, "Noisy", False, "resolve"))
    assert restored.predict(probe) == original.predict(probe)
    assert restored.report() == original.report()
