"""The worker's cycle collector: out of the way of the stages.

The stages' records and rows are acyclic JSON (dicts, lists, strings) that reference counting
frees; a whole bench run left the cycle collector under a thousand objects to free. Yet each of
its collections walked every object that survived since the one before: at CPython's default
of 700 allocations apart that was 9% of a stage's time; at 50,000 apart a young collection held
the event loop for 20–120 ms, and the full collections Faust runs when a table's store stops or
loses partitions (one per table) about 400 ms each.

So :func:`tune` collects once and freezes what the start loaded (``gc.freeze``: the collector
never looks at it again), and :func:`freeze` does the same every ``FREEZE_SECONDS`` to what
survived since — a constant-time move, no walk. Freezing costs nothing else: a frozen object
is freed by reference counting as before; only a cycle that becomes garbage after it was frozen
is never freed, and those are the few hundred objects above.
"""

from __future__ import annotations

import gc

FREEZE_SECONDS = 1.0


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


async def freeze() -> None:
    """Move what survived since the last call out of the collector's sight (a worker timer).

    >>> import asyncio
    >>> kept = [[n] for n in range(2_000)]
    >>> before = gc.get_freeze_count()
    >>> asyncio.run(freeze())
    >>> gc.get_freeze_count() - before >= len(kept)
    True
    >>> gc.unfreeze()
    """
    gc.freeze()
