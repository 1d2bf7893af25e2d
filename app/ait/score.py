"""Scores of a replay against the ground truth of the AIT data set's README.

- **Grouping** (:func:`grouping`), over the attack alerts only (noise belongs to no incident):
  the adjusted Rand index of the incidents the pipeline gave them against the true incidents,
  pair precision / recall / F1 (of the pairs of alerts put in one incident, the share that
  belong together; of the pairs that belong together, the share put in one incident), and how
  many incidents each true incident was spread over.
- **Notifications** (:func:`notifications`): a notification *carries* the IDS alerts that the
  alerts it lists had received by then. Precision is the share of notifications carrying an
  attack alert (whole replay, first and second half of its event time); a step *reached a
  person* when a notification asking for attention (not a resolve) carried one of its alerts;
  reduction is IDS alerts per notification.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import comb

from sklearn.metrics import adjusted_rand_score


@dataclass(frozen=True)
class Notification:
    """One message to a receiver: when, which kind, and the IDS alerts it carries."""

    at_ms: int
    kind: str  # firing, update, repeat, resolved
    events: tuple[int, ...]  # indices of the IDS alerts it carries


@dataclass
class Figures:
    """The figures of one replay."""

    grouping: dict[str, float] = field(default_factory=dict)
    paging: dict[str, float | None] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)  # step → notifications that carried it


def pairs(labels: Sequence[str]) -> int:
    """Pairs of items that share a label.

    >>> pairs(["a", "a", "a", "b"])
    3
    """
    return sum(comb(n, 2) for n in Counter(labels).values())


def grouping(truth: Sequence[str | None], predicted: Sequence[str]) -> dict[str, float]:
    """ARI, pair precision / recall / F1 and incidents per true incident, over the alerts that
    have a true incident (attack alerts).

    >>> g = grouping(["a", "a", None, "b", "b"], ["1", "1", "1", "1", "2"])
    >>> g["pair_precision"], g["pair_recall"], g["incidents_per_episode"]
    (0.3333, 0.5, 1.5)
    """
    keep = [i for i, t in enumerate(truth) if t is not None]
    true = [str(truth[i]) for i in keep]
    got = [predicted[i] for i in keep]
    both = pairs([f"{t}\x00{g}" for t, g in zip(true, got, strict=True)])
    same_got, same_true = pairs(got), pairs(true)
    precision = both / same_got if same_got else 1.0
    recall = both / same_true if same_true else 1.0
    spread: defaultdict[str, set[str]] = defaultdict(set)
    for t, g in zip(true, got, strict=True):
        spread[t].add(g)
    return {
        "ari": round(float(adjusted_rand_score(true, got)), 4),
        "pair_precision": round(precision, 4),
        "pair_recall": round(recall, 4),
        "pair_f1": round(2 * precision * recall / (precision + recall), 4)
        if precision + recall
        else 0.0,
        "incidents_per_episode": round(sum(map(len, spread.values())) / max(len(spread), 1), 2),
        "attack_incidents": len(set(got)),
    }


def notifications(
    sent: Sequence[Notification],
    steps: Sequence[str | None],
    alerts: int,
    span: tuple[int, int],
) -> Figures:
    """Precision (whole, halves), the steps reached and reduction of what was sent.

    >>> sent = [Notification(0, "firing", (0,)), Notification(9, "firing", (1,)),
    ...         Notification(10, "resolved", (1,))]
    >>> f = notifications(sent, ["scan", None], 100, (0, 10))
    >>> f.paging["precision"], f.paging["precision_second_half"], f.paging["recall"], f.steps
    (0.3333, 0.0, 1.0, {'scan': 1})
    """
    middle = (span[0] + span[1]) // 2
    carries = [any(steps[e] is not None for e in n.events) for n in sent]
    second = [c for n, c in zip(sent, carries, strict=True) if n.at_ms >= middle]
    first = [c for n, c in zip(sent, carries, strict=True) if n.at_ms < middle]
    reached: Counter[str] = Counter()
    for n in sent:
        if n.kind != "resolved":
            reached.update({s for e in n.events if (s := steps[e]) is not None})
    every = sorted({s for s in steps if s is not None})
    return Figures(
        paging={
            "notifications": len(sent),
            "pages": sum(n.kind != "resolved" for n in sent),
            "precision": _share(carries),
            "precision_first_half": _share(first),
            "precision_second_half": _share(second),
            "recall": round(sum(s in reached for s in every) / max(len(every), 1), 4),
            "reduction": round(alerts / max(len(sent), 1), 1),
        },
        steps={step: reached[step] for step in every},
    )


def _share(values: Sequence[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
