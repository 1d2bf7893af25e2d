"""HTTP views, registered on the Faust app's web server."""

from app.web import (
    console,
    feedback,
    ingest,
    metric_rules,
    models,
    ops,
    queries,
    silences,
    slack,
    stream,
)

__all__ = [
    "console",
    "feedback",
    "ingest",
    "metric_rules",
    "models",
    "ops",
    "queries",
    "silences",
    "slack",
    "stream",
]
