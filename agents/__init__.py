"""The agents, one module per stage, chained by the topics of :mod:`app.topics`.

dedup → triage → notify (correlation windows and incidents, one stage), and beside them
incident_feedback (feedback to the incident's partition) and fingerprint_stats (what people did
with each fingerprint). The worker imports them all (:func:`app.faust_app.load_modules`);
importing this package alone loads nothing, so the pure parts stay cheap to import.
"""
