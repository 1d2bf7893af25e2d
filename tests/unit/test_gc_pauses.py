"""Each collection of the cycle collector is observed in alertflow_gc_pause_seconds by its
generation, once the worker's collector is tuned (app.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app import collector
from app.metrics import REGISTRY


@pytest.fixture
def tuned() -> Iterator[None]:
    saved = gc.get_threshold()
    collector.tune()
    yield
    gc.set_threshold(*saved)
    gc.unfreeze()
    gc.callbacks.remove(collector.PAUSES)


def observed(generation: str) -> tuple[float, float]:
    """(count, sum) of the pauses of ``generation`` so far."""
    labels = {"generation": generation}
    count = REGISTRY.get_sample_value("alertflow_gc_pause_seconds_count", labels)
    total = REGISTRY.get_sample_value("alertflow_gc_pause_seconds_sum", labels)
    return count or 0.0, total or 0.0


def test_every_collection_is_observed_in_its_generation(tuned: None) -> None:
    before = {generation: observed(generation) for generation in "012"}
    cycles = []
    for _ in range(1000):  # something for the collector to walk
        cycle: list[object] = []
        cycle.append(cycle)
        cycles.append(cycle)
    gc.collect(0)
    gc.collect(0)
    gc.collect(2)
    after = {generation: observed(generation) for generation in "012"}
    assert after["0"][0] == before["0"][0] + 2
    assert after["1"][0] == before["1"][0]
    assert after["2"][0] == before["2"][0] + 1
    assert after["0"][1] > before["0"][1] and after["2"][1] > before["2"][1]


def test_collections_are_not_observed_without_the_callback() -> None:
    installed = collector.PAUSES in gc.callbacks
    if installed:
        gc.callbacks.remove(collector.PAUSES)
    try:
        before = observed("0")
        gc.collect(0)
        assert observed("0") == before
    finally:
        if installed:
            gc.callbacks.append(collector.PAUSES)
