"""Signature of a used Acknowledge/Resolve link → when, by whom, until when it was valid.

A GlobalTable on the compacted topic ``links.used`` (as :mod:`tables.silences`): every worker
knows every used link, across restarts. The web view that takes a link writes here once the
feedback is in Kafka; a row is dropped (tombstone) once its link has expired.
"""

from __future__ import annotations

from tables.topic_table import topic_table

links_used = topic_table("links_used", "links.used", __doc__ or "")
