"""One module per table; each is keyed like the stream of the agent that writes it."""

from tables.alerts import alerts
from tables.correlation import correlation
from tables.dedup import dedup
from tables.fingerprint_stats import fingerprint_stats
from tables.incidents import incidents
from tables.models import models
from tables.templates import templates

__all__ = [
    "alerts", "correlation", "dedup", "fingerprint_stats", "incidents", "models", "templates",
]
