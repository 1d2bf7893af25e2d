"""Grouping accuracy, the LogPai log-parsing benchmark metric for message clusterings."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence

__all__ = ["grouping_accuracy"]


def grouping_accuracy(
    true_labels: Sequence[Hashable], predicted_labels: Sequence[Hashable]
) -> float:
    """Share of messages whose predicted group holds exactly the messages of their true group.

    >>> grouping_accuracy(["a", "a", "b", "c"], [1, 1, 2, 2])
    0.5
    """
    if len(true_labels) != len(predicted_labels):
        raise ValueError("true_labels and predicted_labels differ in length")
    true_sizes = Counter(true_labels)
    predicted: defaultdict[Hashable, list[Hashable]] = defaultdict(list)
    for true, guess in zip(true_labels, predicted_labels, strict=True):
        predicted[guess].append(true)
    correct = sum(
        len(group)
        for group in predicted.values()
        if len(set(group)) == 1 and true_sizes[group[0]] == len(group)
    )
    return correct / len(true_labels) if true_labels else 1.0
