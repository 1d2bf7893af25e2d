"""alertflow's configuration: one validated, versioned snapshot of its files.

``ALERTFLOW_CONFIG`` (alertflow's YAML) and/or ``ALERTFLOW_ALERTMANAGER_CONFIG`` (an
``alertmanager.yml`` read unchanged) → :func:`load_config` → :class:`Config`. The reference
is docs/configuration.md; the file's JSON schema is docs/config.schema.json.
"""

from app.config.dedup import POLICIES, DedupPolicy
from app.config.durations import duration_ms
from app.config.problems import ConfigError
from app.config.routes import DEFAULT_ROUTE, Route, group_key, match
from app.config.snapshot import (
    Config,
    NotifyOptions,
    Reloader,
    check,
    from_document,
    load_config,
    route_for,
    time_muted,
)
from app.config.time_intervals import TimeInterval, active
from app.records import group_labels

__all__ = [
    "DEFAULT_ROUTE",
    "POLICIES",
    "Config",
    "ConfigError",
    "DedupPolicy",
    "NotifyOptions",
    "Reloader",
    "Route",
    "TimeInterval",
    "active",
    "check",
    "duration_ms",
    "from_document",
    "group_key",
    "group_labels",
    "load_config",
    "match",
    "route_for",
    "time_muted",
]
