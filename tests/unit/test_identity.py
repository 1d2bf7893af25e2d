"""A request's label fingerprints side by side equal them one at a time (Alertmanager's own
value for a known label set is label_fingerprint's doctest)."""

from __future__ import annotations

import random

import pytest

from app.identity import VECTOR_BYTES, VECTOR_FROM, label_fingerprint, label_fingerprints

ALPHABET = "abcXYZ019_-.:/ é€😀"  # one- to four-byte UTF-8 characters


def random_sets(count: int, seed: int) -> list[dict[str, str]]:
    rnd = random.Random(seed)

    def word(longest: int) -> str:
        return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, longest)))

    return [{word(12) or "n": word(60) for _ in range(rnd.randint(0, 14))} for _ in range(count)]


@pytest.mark.parametrize("count", [0, 1, VECTOR_FROM - 1, VECTOR_FROM, 3 * VECTOR_FROM + 5])
def test_side_by_side_equals_one_at_a_time(count: int) -> None:
    sets = random_sets(count, seed=count)
    assert label_fingerprints(sets) == [label_fingerprint(labels) for labels in sets]


def test_empty_and_equal_sets_side_by_side() -> None:
    sets = [{}] * VECTOR_FROM + [{"a": "b"}, {"a": "b"}]
    fingerprints = label_fingerprints(sets)
    assert fingerprints[0] == "cbf29ce484222325"  # FNV-1a 64 of nothing: its offset basis
    assert fingerprints[-1] == fingerprints[-2] == label_fingerprint({"a": "b"})
    assert len(set(fingerprints)) == 2


def test_a_long_label_set_among_short_ones_is_hashed_alike() -> None:
    sets = [*random_sets(VECTOR_FROM, seed=7), {"blob": "é" * VECTOR_BYTES}, {"a": "x" * 4000}]
    assert label_fingerprints(sets) == [label_fingerprint(labels) for labels in sets]
    assert label_fingerprints(sets[-2:] * VECTOR_FROM)[-1] == label_fingerprint(sets[-1])
