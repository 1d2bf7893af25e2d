"""The per-tenant actionability model: River, one event at a time, with a severity prior.

A tenant's :class:`Learner` holds a calibrated online classifier (logistic regression over
hashed features, chosen by measurement — see ``alertflow eval --compare``), its progressive
validation metrics (predict, then learn) and what people did with each kind of alert. Its state
is two parts: :meth:`Learner.meta` (JSON: counts, per-kind statistics of at most ``MAX_KINDS``
kinds, digests of the last ``REMEMBERED_EXAMPLES`` examples learned) and :meth:`Learner.blob`
(the River objects, pickled), which :mod:`app.learning.store` keeps in rows of bounded size, so
a restarted worker scores exactly as before.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict

from river import linear_model, metrics, optim, preprocessing, tree

from app.learning.features import Features, KindStats

SEVERITY_PRIOR = {"critical": 0.9, "error": 0.6, "warning": 0.4, "info": 0.2}
DEFAULT_PRIOR = 0.4
PRIOR_WEIGHT = 10.0  # until a tenant's labels weigh this much, its score leans on the prior
REMEMBERED_EXAMPLES = 2000  # ids of the last examples learned: a replay never trains twice
MAX_KINDS = 500  # kinds whose label statistics are kept (the least recently labelled go)
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


def new_model(name: str = "logistic") -> Any:
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
        start = hasher.transform_one({"ack_log_odds": 1.0})  # type: ignore[no-untyped-call]
        for index, weight in start.items():
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
    auc: metrics.ROCAUC = field(
        default_factory=lambda: metrics.ROCAUC(n_thresholds=50)  # type: ignore[no-untyped-call]
    )
    samples: dict[str, int] = field(default_factory=dict)
    weight: float = 0.0
    confusion: dict[str, int] = field(default_factory=lambda: {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
    kinds: dict[str, KindStats] = field(default_factory=dict)
    learned: list[str] = field(default_factory=list)  # digests of example ids, oldest first
    daily: dict[str, dict[str, int]] = field(default_factory=dict)  # UTC day → confusion

    def __post_init__(self) -> None:
        self._learned = set(self.learned)

    def predict(self, features: Features) -> float:
        """The score: the model blended with the severity prior (the prior alone, without
        asking the model, while the tenant has no labels).

        >>> Learner(0.35).predict({"severity": "critical"})
        0.9
        """
        p_prior = prior(str(features.get("severity", "")))
        trust = min(self.weight / PRIOR_WEIGHT, 1.0)
        if trust <= 0.0:
            return p_prior
        p_model = float(self.model.predict_proba_one(features).get(True, 0.5))
        return trust * p_model + (1 - trust) * p_prior

    def learn(self, example: Example) -> bool:
        """Progressive validation, then learning; ``False`` for an example already learned.

        >>> learner = Learner(0.35)
        >>> ex = {"id": "a1:ack", "kind": "Lag", "features": {"kind": "Lag"}, "label": True,
        ...       "weight": 1.0, "source": "ack", "at_ms": 5}
        >>> learner.learn(ex), learner.learn(ex), learner.samples, learner.kinds["Lag"]
        (True, False, {'ack': 1}, {'actionable': 1.0, 'noise': 0.0, 'last_ack_ms': 5})
        """
        digest = _digest(example["id"])
        if digest in self._learned:
            return False
        label, weight = example["label"], example["weight"]
        if example["source"] != "self_resolve":  # people's labels only: weak ones are guesses
            score = self.predict(example["features"])
            self.auc.update(label, score)  # type: ignore[no-untyped-call]
            said = score >= self.threshold
            cell = ("tp" if label else "fp") if said else ("fn" if label else "tn")
            self.confusion[cell] += 1
            self._count_day(example["at_ms"], cell)
        self.model.learn_one(example["features"], label, w=weight)
        kind = self.kinds.pop(example["kind"], None) or empty_kind()
        kind["actionable" if label else "noise"] += weight
        if label and example["source"] != "self_resolve":
            kind["last_ack_ms"] = max(kind["last_ack_ms"] or 0, example["at_ms"])
        self.kinds[example["kind"]] = kind  # the most recently labelled last
        if len(self.kinds) > MAX_KINDS:
            del self.kinds[next(iter(self.kinds))]
        self.samples[example["source"]] = self.samples.get(example["source"], 0) + 1
        self.weight += weight
        self.learned.append(digest)
        self._learned.add(digest)
        if len(self.learned) > REMEMBERED_EXAMPLES:
            self._learned.discard(self.learned.pop(0))
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
            "roc_auc": (
                round(float(self.auc.get()), 4)  # type: ignore[no-untyped-call]
                if both_classes
                else None
            ),
            "threshold": self.threshold,
            "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
            "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
            "confusion": c,
            "prior_share": round(1 - min(self.weight / PRIOR_WEIGHT, 1.0), 3),
            "daily": self.curve(),
        }

    def meta(self) -> dict[str, Any]:
        """Everything but the River objects, as JSON-serialisable data (see :meth:`restore`)."""
        return {
            "samples": self.samples,
            "weight": self.weight,
            "confusion": self.confusion,
            "kinds": self.kinds,
            "learned": self.learned,
            "daily": self.daily,
        }

    def blob(self) -> bytes:
        """The River objects (model and validation metric), pickled."""
        return pickle.dumps((self.model, self.auc), protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, meta: dict[str, Any] | None, blob: bytes | None, threshold: float) -> Learner:
        """The learner :meth:`meta` and :meth:`blob` describe (a fresh one for ``None``).

        >>> learner = Learner(0.35)
        >>> _ = learner.learn({"id": "x", "kind": "k", "features": {"a": "b"}, "label": False,
        ...                    "weight": 1.0, "source": "resolve", "at_ms": 1})
        >>> again = Learner.restore(learner.meta(), learner.blob(), 0.35)
        >>> again.predict({"a": "b"}) == learner.predict({"a": "b"}), again.samples
        (True, {'resolve': 1})
        """
        if meta is None or blob is None:
            return cls(threshold)
        model, auc = pickle.loads(blob)  # our own table, our own pickles
        return cls(
            threshold,
            model=model,
            auc=auc,
            samples=dict(meta["samples"]),
            weight=float(meta["weight"]),
            confusion=dict(meta["confusion"]),
            kinds={kind: dict(stats) for kind, stats in meta["kinds"].items()},  # type: ignore[misc]
            learned=list(meta["learned"]),
            daily={day: dict(counts) for day, counts in meta.get("daily", {}).items()},
        )


def _digest(example_id: str) -> str:
    """A short fixed-size stand-in for an example id (12 hex digits).

    >>> _digest("a1:human")
    'b785ec545d26'
    """
    return hashlib.blake2b(example_id.encode(), digest_size=6).hexdigest()


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
