"""The per-tenant actionability model: River, one event at a time, with a severity prior.

A tenant's :class:`Learner` holds a calibrated online classifier (logistic regression over
hashed features, chosen by measurement — see ``alertflow eval --compare``), its progressive
validation metrics (predict, then learn) and what people did with each kind of alert. Its state
is JSON-able (the River objects as base64 pickles), so it lives in a Faust table with a
changelog and a restarted worker scores exactly as before.
"""

from __future__ import annotations

import base64
import pickle
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from river import base, linear_model, metrics, optim, preprocessing, tree

from app.learning.features import Features, KindStats

SEVERITY_PRIOR = {"critical": 0.9, "error": 0.6, "warning": 0.4, "info": 0.2}
DEFAULT_PRIOR = 0.4
PRIOR_WEIGHT = 10.0  # until a tenant's labels weigh this much, its score leans on the prior
REMEMBERED_EXAMPLES = 2000  # ids of the last examples learned: a replay never trains twice
MODELS = ("logistic", "hoeffding", "forest")
LEARNING_RATE = 0.05  # of the logistic regression's SGD: chosen with ``alertflow eval``
HISTORY_DAYS = 90  # days of progressive validation kept per tenant (the console's curve)


class Example(TypedDict):
    """Value of ``learning.examples`` (key: tenant): one label on the features the model saw."""

    id: str  # "<alert id>:<source>": learned at most once
    alert_id: str
    tenant: str
    kind: str
    features: Features
    label: bool  # actionable
    weight: float
    source: str  # "ack" | "resolve" | "self_resolve"
    at_ms: int  # when the label was given (feedback time, or the alert's end)


def new_model(name: str = "logistic") -> base.Classifier:
    """A fresh online classifier; ``name`` is one of :data:`MODELS`.

    >>> new_model().predict_proba_one({"severity": "info"})[True]
    0.5
    >>> round(new_model().predict_proba_one({"ack_log_odds": -2.0})[True], 3)
    0.119
    """
    if name == "logistic":
        hasher = preprocessing.FeatureHasher(n_features=2**18, seed=7, alternate_sign=False)
        classifier = linear_model.LogisticRegression(optimizer=optim.SGD(LEARNING_RATE), l2=1e-4)
        # An informative start: the kind's own Beta-smoothed ack log-odds counts fully, so the
        # model follows what people said of a kind before it has learned anything else.
        for index, weight in hasher.transform_one({"ack_log_odds": 1.0}).items():
            classifier._weights[index] = weight
        return hasher | classifier
    if name == "hoeffding":
        return tree.HoeffdingAdaptiveTreeClassifier(grace_period=20, seed=7)
    if name == "forest":
        from river import forest

        return forest.ARFClassifier(n_models=5, seed=7)
    raise ValueError(f"unknown model {name!r}: one of {MODELS}")


def prior(severity: str) -> float:
    """What a tenant without feedback gets: a fixed prior by severity.

    >>> prior("critical"), prior("whatever")
    (0.9, 0.4)
    """
    return SEVERITY_PRIOR.get(severity, DEFAULT_PRIOR)


def empty_kind() -> KindStats:
    """Statistics of a kind nobody has labelled yet."""
    return {"actionable": 0.0, "noise": 0.0, "last_ack_ms": None}


@dataclass
class Learner:
    """One tenant's model, its validation metrics and its per-kind label statistics."""

    threshold: float  # notify threshold the precision and recall are measured at
    model: Any = field(default_factory=new_model)
    auc: metrics.ROCAUC = field(default_factory=lambda: metrics.ROCAUC(n_thresholds=50))
    samples: dict[str, int] = field(default_factory=dict)
    weight: float = 0.0
    confusion: dict[str, int] = field(default_factory=lambda: {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
    kinds: dict[str, KindStats] = field(default_factory=dict)
    learned: list[str] = field(default_factory=list)
    daily: dict[str, dict[str, int]] = field(default_factory=dict)  # UTC day → confusion

    def predict(self, features: Features) -> tuple[float, float]:
        """(score, model probability): the model blended with the severity prior.

        >>> Learner(0.35).predict({"severity": "critical"})
        (0.9, 0.5)
        """
        p_model = float(self.model.predict_proba_one(features).get(True, 0.5))
        trust = min(self.weight / PRIOR_WEIGHT, 1.0)
        p_prior = prior(str(features.get("severity", "")))
        return trust * p_model + (1 - trust) * p_prior, p_model

    def learn(self, example: Example) -> bool:
        """Progressive validation, then learning; ``False`` for an example already learned.

        >>> learner = Learner(0.35)
        >>> ex = {"id": "a1:ack", "kind": "Lag", "features": {"kind": "Lag"}, "label": True,
        ...       "weight": 1.0, "source": "ack", "at_ms": 5}
        >>> learner.learn(ex), learner.learn(ex), learner.samples, learner.kinds["Lag"]
        (True, False, {'ack': 1}, {'actionable': 1.0, 'noise': 0.0, 'last_ack_ms': 5})
        """
        if example["id"] in self.learned:
            return False
        label, weight = example["label"], example["weight"]
        if example["source"] != "self_resolve":  # people's labels only: weak ones are guesses
            score, _ = self.predict(example["features"])
            self.auc.update(label, score)
            said = score >= self.threshold
            cell = ("tp" if label else "fp") if said else ("fn" if label else "tn")
            self.confusion[cell] += 1
            self._count_day(example["at_ms"], cell)
        self.model.learn_one(example["features"], label, w=weight)
        kind = dict(self.kinds.get(example["kind"], empty_kind()))
        kind["actionable" if label else "noise"] += weight
        if label and example["source"] != "self_resolve":
            kind["last_ack_ms"] = max(kind["last_ack_ms"] or 0, example["at_ms"])
        self.kinds[example["kind"]] = kind  # type: ignore[assignment]
        self.samples[example["source"]] = self.samples.get(example["source"], 0) + 1
        self.weight += weight
        self.learned = [*self.learned, example["id"]][-REMEMBERED_EXAMPLES:]
        return True

    def _count_day(self, at_ms: int, cell: str) -> None:
        """One validated label in its UTC day; only the last :data:`HISTORY_DAYS` days stay."""
        day = datetime.fromtimestamp(at_ms / 1000, UTC).date().isoformat()
        counts = dict(self.daily.get(day) or {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
        counts[cell] += 1
        self.daily[day] = counts
        for old in sorted(self.daily)[:-HISTORY_DAYS]:
            del self.daily[old]

    def curve(self) -> list[dict[str, Any]]:
        """Per day: the validated labels, precision and recall at the threshold (the curve).

        >>> learner = Learner(0.35)
        >>> learner._count_day(0, "tp"); learner._count_day(1, "fp")
        >>> learner.curve()
        [{'day': '1970-01-01', 'tp': 1, 'fp': 1, 'fn': 0, 'tn': 0, 'precision': 0.5, 'recall': 1.0}]
        """
        return [
            {
                "day": day,
                **c,
                "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
                "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
            }
            for day, c in sorted(self.daily.items())
        ]

    def report(self) -> dict[str, Any]:
        """Samples seen, ROC AUC, precision and recall at the threshold, per-kind statistics."""
        c = self.confusion
        people = c["tp"] + c["fp"] + c["fn"] + c["tn"]
        both_classes = c["tp"] + c["fn"] > 0 and c["fp"] + c["tn"] > 0
        return {
            "samples": sum(self.samples.values()),
            "samples_by_source": self.samples,
            "label_weight": round(self.weight, 3),
            "validated": people,
            "roc_auc": round(float(self.auc.get()), 4) if both_classes else None,
            "threshold": self.threshold,
            "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
            "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
            "confusion": c,
            "prior_share": round(1 - min(self.weight / PRIOR_WEIGHT, 1.0), 3),
            "daily": self.curve(),
        }

    def dump(self) -> dict[str, Any]:
        """The JSON-able state for the ``models`` table."""
        return {
            "model": _pickled(self.model),
            "auc": _pickled(self.auc),
            "samples": self.samples,
            "weight": self.weight,
            "confusion": self.confusion,
            "kinds": self.kinds,
            "learned": self.learned,
            "daily": self.daily,
        }

    @classmethod
    def load(cls, state: dict[str, Any] | None, threshold: float) -> Learner:
        """The learner a table value describes (a fresh one for ``None``).

        >>> learner = Learner(0.35)
        >>> _ = learner.learn({"id": "x", "kind": "k", "features": {"a": "b"}, "label": False,
        ...                    "weight": 1.0, "source": "resolve", "at_ms": 1})
        >>> again = Learner.load(learner.dump(), 0.35)
        >>> again.predict({"a": "b"}) == learner.predict({"a": "b"}), again.samples
        (True, {'resolve': 1})
        """
        if state is None:
            return cls(threshold)
        return cls(
            threshold,
            model=_unpickled(state["model"]),
            auc=_unpickled(state["auc"]),
            samples=dict(state["samples"]),
            weight=float(state["weight"]),
            confusion=dict(state["confusion"]),
            kinds={kind: dict(stats) for kind, stats in state["kinds"].items()},  # type: ignore[misc]
            learned=list(state["learned"]),
            daily={day: dict(counts) for day, counts in state.get("daily", {}).items()},
        )


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _pickled(value: Any) -> str:
    return base64.b64encode(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)).decode()


def _unpickled(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))  # our own table, our own pickles
