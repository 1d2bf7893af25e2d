"""HTTP views, registered on the Faust app's web server."""

from app.web import (
    actions,
    audit,
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
    "actions",
    "audit",
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
