"""Silence id → silence (app.silences), every worker holding all of them.

A Faust GlobalTable whose changelog is the compacted topic ``silences`` itself: the HTTP view
writes a silence to the topic and every worker's table follows it (all partitions as standbys,
``synchronize_all_active_partitions``). One partition, as Faust advises for global tables.
"""

from __future__ import annotations

from tables.topic_table import topic_table

silences = topic_table("silences", "silences", __doc__ or "")
