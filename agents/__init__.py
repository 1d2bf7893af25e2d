"""The agents, one module per stage, chained by the topics of :mod:`app.topics`.

normalize → dedup → fingerprint → correlate → score → notify, and beside them the views
(alert_view, fingerprint_stats) that keep what the HTTP API answers.
"""

from agents.alert_view import alert_view
from agents.correlate import correlate
from agents.dedup import dedup
from agents.fingerprint import fingerprint
from agents.fingerprint_stats import fingerprint_stats
from agents.normalize import normalize
from agents.notify import notify
from agents.score import score

__all__ = [
    "alert_view", "correlate", "dedup", "fingerprint", "fingerprint_stats", "normalize",
    "notify", "score",
]
