"""Series key → the states of the rules watching that series (agents.metric_rules).

A row exists only while a rule is pending, firing or cooling down on the series; it is written
while handling an event of the series' partition of ``metrics.points``/``metrics.ticks``.
"""

from tables.define import keyed_table

rule_states = keyed_table("rule_states", __doc__)
