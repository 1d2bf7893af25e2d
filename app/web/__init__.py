"""HTTP views, registered on the Faust app's web server."""

from app.web import (
    actions,
    alertmanager_api,
    audit,
    console,
    feedback,
    heartbeats,
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
    "alertmanager_api",
    "audit",
    "console",
    "feedback",
    "heartbeats",
    "ingest",
    "metric_rules",
    "models",
    "ops",
    "queries",
    "silences",
    "slack",
    "stream",
]
