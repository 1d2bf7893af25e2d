"""Rule id → metric rule (app.metric_rules.rules), every worker holding all of them.

Like :mod:`tables.silences`: a Faust GlobalTable whose changelog is the compacted topic
``rules`` itself. The HTTP view writes a rule (or a tombstone, to delete it) to the topic and
every worker's table follows, so each worker evaluates its series against every rule.
"""

from __future__ import annotations

from tables.topic_table import topic_table

rules = topic_table("rules", "rules", __doc__ or "")
