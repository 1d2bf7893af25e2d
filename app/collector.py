"""The worker's cycle collector: collecting seldom, and never what the start loaded.

The stages' records and rows are acyclic JSON (dicts, lists, strings) that reference counting
frees, yet CPython's collector walks every object that survived since its last collection: at
its default of 700 allocations apart that was 9% of a stage's time. :func:`tune` collects once,
freezes what the start loaded (``gc.freeze``: the collector never looks at it again) and
collects young objects 50,000 allocations apart.

Freezing more as the worker runs would spare the young collections' pauses (20–120 ms each in a
bench run, longer as the heap grows), but a cycle that becomes garbage after it was frozen is
never freed: a delivery refused by its receiver leaves 84 such objects (17 with a young
collection before each freeze), so a receiver down in a storm would grow the worker without
bound (docs/benchmark.md, 2026-12-05 (evening)).

Every collection's pause is observed in ``alertflow_gc_pause_seconds{generation}``: the
interpreter, every stage and the HTTP bridge with it, waits that long.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from app import metrics


class _Pauses:
    """A ``gc.callbacks`` entry: observes how long each collection took, by generation."""

    def __init__(self) -> None:
        self._began = 0.0  # collections never overlap: one start at a time
        self._observed = [metrics.gc_pause.labels(str(generation)) for generation in range(3)]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self._observed[info["generation"]].observe(time.perf_counter() - self._began)


PAUSES = _Pauses()


def tune() -> None:
    """Collect, freeze what is loaded, collect young objects 50,000 allocations apart, and
    observe every collection's pause.

    >>> saved = gc.get_threshold()
    >>> tune(); gc.get_threshold()[0], gc.get_count()[0] < 1_000, gc.get_freeze_count() > 0
    (50000, True, True)
    >>> tune(); gc.callbacks.count(PAUSES)  # once, however often it is called
    1
    >>> gc.set_threshold(*saved); gc.unfreeze(); gc.callbacks.remove(PAUSES)  # as it was
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    if PAUSES not in gc.callbacks:
        gc.callbacks.append(PAUSES)
