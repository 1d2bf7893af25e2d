"""Parsing and validation of every input source into :class:`~app.records.RawAlert` records,
and of a RawAlert into the canonical :class:`~app.records.Alert`: pure functions over bytes.

A source's ``split_*`` checks a request and makes one RawAlert per alert; ``normalize`` makes
the canonical Alert of a RawAlert so made. For Alertmanager's and the API's alerts, the ones
that come in floods, it does not check them again (the checks cost as much as the rest of
normalising an alert). It depends on the RawAlert only, so every caller computes the same
alert and the same id.
"""

from __future__ import annotations

from app.records import Alert, RawAlert
from app.sources.alertmanager import normalize_alertmanager, split_alertmanager
from app.sources.alertmanager_v2 import normalize_alertmanager_v2, split_alertmanager_v2
from app.sources.api import MAX_ALERTS, normalize_api, normalize_api_all, split_api
from app.sources.errors import SourceError
from app.sources.sentry_envelope import normalize_envelope_event, split_envelope
from app.sources.sentry_webhook import (
    ALERT_RESOURCES,
    normalize_sentry_webhook,
    split_sentry_webhook,
    verify_signature,
)

__all__ = [
    "ALERT_RESOURCES",
    "MAX_ALERTS",
    "SourceError",
    "normalize",
    "normalize_alertmanager",
    "normalize_alertmanager_v2",
    "normalize_all",
    "normalize_api",
    "normalize_envelope_event",
    "normalize_sentry_webhook",
    "split_alertmanager",
    "split_alertmanager_v2",
    "split_api",
    "split_envelope",
    "split_sentry_webhook",
    "verify_signature",
]


def normalize(raw: RawAlert) -> Alert:
    """The canonical Alert of a RawAlert of any source, as its split made it; SourceError for
    a source it does not know."""
    context = raw["context"]
    source = raw["source"]
    if source == "alertmanager" and context.get("via") == "api_v2":
        return normalize_alertmanager_v2(raw)
    if source == "alertmanager":
        return normalize_alertmanager(raw)
    if source == "api":
        return normalize_api(raw)
    if source == "sentry" and context.get("via") == "envelope":
        return normalize_envelope_event(raw)
    if source == "sentry" and context.get("via") == "webhook":
        return normalize_sentry_webhook(raw)
    raise SourceError("unknown_source", f"raw alert: source {source!r} via {context.get('via')!r}")


def normalize_all(raws: list[RawAlert]) -> list[Alert]:
    """:func:`normalize` of each RawAlert of one request; an API request's computed
    fingerprints are hashed together (:func:`~app.sources.api.normalize_api_all`)."""
    if raws and all(raw.get("source") == "api" for raw in raws):
        return normalize_api_all(raws)
    return [normalize(raw) for raw in raws]
