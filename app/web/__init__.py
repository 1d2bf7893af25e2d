"""HTTP views, registered on the Faust app's web server."""

from app.web import console, feedback, ingest, models, ops, queries, silences, slack, stream

__all__ = [
    "console",
    "feedback",
    "ingest",
    "models",
    "ops",
    "queries",
    "silences",
    "slack",
    "stream",
]
