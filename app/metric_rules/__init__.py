"""Threshold rules on submitted metric points: pure parts (points, rules, evaluation, alerts).

The HTTP views (:mod:`app.web.metric_rules`), the rule table (:mod:`tables.rules`) and the
evaluating agent (:mod:`agents.metric_rules`) are built on these modules; ``POST
/api/v1/rules/{id}/test`` runs the very same evaluation without Kafka.
"""
