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
"""

from __future__ import annotations

import gc


def tune() -> None:
    """Collect, freeze what is loaded, and collect young objects 50,000 allocations apart.

    >>> saved = gc.get_threshold()
    >>> tune(); gc.get_threshold()[0], gc.get_count()[0] < 1_000, gc.get_freeze_count() > 0
    (50000, True, True)
    >>> gc.set_threshold(*saved); gc.unfreeze()  # the test process's collector as it was
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
