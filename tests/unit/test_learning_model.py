"""The per-tenant learner: prior, learning once, progressive validation, exact restore, and
its rows: bounded, chunked, rewritten only where they changed."""

from __future__ import annotations

from typing import Any

import orjson

from app.learning.model import MAX_KINDS, PRIOR_WEIGHT, REMEMBERED_EXAMPLES, Example, Learner
from app.learning.store import CHUNK_BYTES, Model
from app.runtime.state import MemoryRows


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
    assert learner.predict({"severity": "info"}) == 0.2
    assert learner.predict({"severity": "critical"}) == 0.9


def test_labels_separate_kinds_and_the_prior_fades() -> None:
    learner = _taught(40)
    noisy = learner.predict({"kind": "Noisy", "severity": "warning", "label:host": "new"})
    real = learner.predict({"kind": "Real", "severity": "warning", "label:host": "new"})
    assert noisy < 0.35 < real
    assert learner.weight >= PRIOR_WEIGHT
    assert learner.kinds["Noisy"] == {"actionable": 0.0, "noise": 40.0, "last_ack_ms": None}
    assert learner.kinds["Real"]["last_ack_ms"] == 39_000


def test_an_example_is_learned_once() -> None:
    learner = _taught(3)
    before = learner.meta(), learner.blob()
    assert learner.learn(_example(1, "Real", True)) is False
    assert (learner.meta(), learner.blob()) == before


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
    restored = Learner.restore(original.meta(), original.blob(), 0.35)
    probe = {"kind": "Noisy", "severity": "warning", "label:host": "h9"}
    assert restored.predict(probe) == original.predict(probe)
    original.learn(_example(7, "Noisy", False, "resolve"))
    restored.learn(_example(7, "Noisy", False, "resolve"))
    assert restored.predict(probe) == original.predict(probe)
    assert restored.report() == original.report()


def test_the_learned_memory_and_the_kinds_stay_bounded_and_fit_rows_under_64_kb() -> None:
    learner = Learner(0.35)
    examples = [_example(n, f"K{n % (MAX_KINDS + 50)}", n % 2 == 0) for n in range(2500)]
    for example in examples:
        learner.learn(example)
    assert len(learner.learned) == REMEMBERED_EXAMPLES and len(learner.kinds) == MAX_KINDS
    last_labelled = {example["kind"]: n for n, example in enumerate(examples)}
    gone = set(last_labelled) - set(learner.kinds)
    assert gone == {k for k, n in last_labelled.items() if n < len(examples) - MAX_KINDS}
    assert learner.learn(examples[-1]) is False, "remembered: not learned twice"
    assert learner.learn(examples[0]) is True, "forgotten long ago: learned again"
    rows = MemoryRows()
    model = Model(learner, [])
    for n in range(MAX_KINDS):  # kinds with long names
        model.learner.learn(_example(n, f"{'LongAlertName' * 4}{n}", True))
    model.save(rows, "t")
    assert max(len(orjson.dumps(value)) for value in rows.data.values()) < 64 * 1024
    again = Model.load(rows.get, "t", 0.35).learner
    assert again.learned == model.learner.learned and again.kinds == model.learner.kinds


class Counting(MemoryRows):
    """Rows that count what is written."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    def put(self, key: str, value: Any) -> None:
        self.written.append(key)
        super().put(key, value)


def test_a_model_with_many_labels_is_kept_in_rows_under_a_fixed_size() -> None:
    rows = Counting()
    model = Model.load(rows.get, "t", 0.35)
    for n in range(10_000):  # tens of thousands of distinct label values: many weights
        example = _example(n, "Kind", n % 3 == 0)
        unique = {f"label:{name}": f"{name}-{n}" for name in ("pod", "node", "trace")}
        example["features"] = {**example["features"], **unique}
        model.learner.learn(example)
    model.save(rows, "t")
    chunks = [key for key in rows.data if key.startswith("t|m|")]
    assert len(chunks) >= 2, "the pickled model is larger than one row"
    assert all(len(orjson.dumps(rows.data[key])) <= CHUNK_BYTES * 4 // 3 + 8 for key in chunks)
    assert max(len(orjson.dumps(value)) for value in rows.data.values()) < 64 * 1024
    restored = Model.load(rows.get, "t", 0.35).learner
    probe = {"kind": "Kind", "severity": "warning", "label:pod": "pod-7"}
    assert restored.predict(probe) == model.learner.predict(probe)

    rows.written.clear()
    assert model.learner.learn(_example(20_000, "Kind", True))
    model.save(rows, "t")
    assert "t|m" in rows.written and "t|ml" in rows.written
    assert 1 <= len(rows.written) - 2 < len(chunks), "only the chunks that changed are written"
