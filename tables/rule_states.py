"""Series key → the states of the rules watching that series (agents.metric_rules).

A row exists only while a rule is pending, firing or cooling down on the series; it is written
while handling a record of the series' partition of ``metrics.points``/``metrics.ticks``.
"""

from app.faust_app import app
from app.runtime import StateTable
from app.topics import PARTITIONS

rule_states = StateTable(app, "rule_states", PARTITIONS, __doc__ or "")
