"""The agents, one module per stage, chained by the topics of :mod:`app.topics`.

normalize → dedup → fingerprint → correlate → score → notify, and beside them the views
(alert_view, fingerprint_stats) that keep what the HTTP API answers. The worker imports them
all (:func:`app.faust_app.load_modules`); importing this package alone loads nothing, so the
pure parts (the template miner) stay cheap to import.
"""
