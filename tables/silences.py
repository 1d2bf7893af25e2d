"""Silence id → silence (app.silences), every worker holding all of them.

A Faust GlobalTable whose changelog is the compacted topic ``silences`` itself: the HTTP view
writes a silence to the topic and every worker's table follows it (all partitions as standbys,
``synchronize_all_active_partitions``). One partition, as Faust advises for global tables.

:data:`compiled_silences` keeps them compiled for muting, compiled again only after the table
changed, not on every handler call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from app.notify.muting import CompiledSilence, compiled
from app.silences import Silence
from tables.noted import NotedGlobalTable
from tables.topic_table import topic_table

silences = topic_table("silences", "silences", __doc__ or "")


class CompiledSilences:
    """The table's silences, compiled (:func:`app.notify.muting.compiled`)."""

    def __init__(self, table: NotedGlobalTable) -> None:
        self._table = table
        self._compiled: tuple[CompiledSilence, ...] = ()

    def current(self) -> tuple[CompiledSilence, ...]:
        """The silences as of the changelog's latest applied change."""
        changes = self._table.taken()
        if changes is None or changes:  # the first call, or the table changed since the last
            self._compiled = compiled(cast(Iterable[Silence], self._table.values()))
        return self._compiled


compiled_silences = CompiledSilences(silences)
