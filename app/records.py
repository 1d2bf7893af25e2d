"""Record shapes on the wire: plain JSON objects (orjson), typed here for readers and mypy."""

import functools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NotRequired, TypedDict

Source = Literal["alertmanager", "sentry", "api"]
Status = Literal["firing", "resolved"]
Decision = Literal["notify", "suppress", "digest"]
SEVERITIES = ("critical", "error", "warning", "info")


class RawAlert(TypedDict):
    """One source alert, unchanged, with where and when it came in (``alerts.raw`` carries a
    request's alerts as one message: these fields, with ``alerts`` for the payloads)."""

    source: Source
    received_at: str
    tenant: str
    payload: dict[str, Any]  # the source's own alert object, as sent
    context: dict[str, Any]  # what the source sent around it (group fields, resource, headers)


class Alert(TypedDict):
    """The canonical alert; every stage adds its fields, ``alerts.enriched`` carries all."""

    id: str
    tenant: str
    source: Source
    status: Status
    severity: str
    severity_original: str | None  # the severity as the source sent it (app.severity)
    service: str
    title: str
    description: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str | None
    received_at: str
    fingerprint: str
    group_key: str | None  # upstream grouping hint (Alertmanager's groupKey)
    template_id: str | None
    template: str | None
    duplicate_count: int
    incident_id: str | None
    score: float | None
    decision: Decision | None
    reasons: list[str]
    held_changes: NotRequired[int]  # dedup: state changes held back while it flapped
    incident_open: NotRequired[bool]  # correlate: the route's min_alerts are reached
    merged_from: NotRequired[str]  # the incident it was in before a merge
    # Internal (between the stages, never on alerts.enriched): see docs/architecture.md.
    seq: NotRequired[int]  # dedup: records of its fingerprint passed on so far
    fingerprint_rate: NotRequired[float]  # dedup: decayed count of the earlier ones
    route: NotRequired[str]  # triage: the first route it lands on (grouping)
    routes: NotRequired[list[str]]  # triage: every route it lands on (receivers)
    group: NotRequired[str]  # triage: its correlation group key
    config_version: NotRequired[str]  # triage: the configuration snapshot it was routed with
    features: NotRequired[dict[str, float | str]]  # triage: what the model saw
    storm: NotRequired[dict[str, str]]  # triage: the storm of its scope, while one lasts
    phase: NotRequired[dict[str, int]]  # triage: start of its scopes' current phases


INTERNAL_FIELDS = frozenset(
    (
        "seq",
        "fingerprint_rate",
        "route",
        "routes",
        "group",
        "config_version",
        "features",
        "storm",
        "phase",
    )
)


class Feedback(TypedDict):
    """Value of ``alerts.feedback``: what a person did with an alert."""

    alert_id: str
    incident_id: NotRequired[str | None]
    kind: Literal["ack", "resolve"]
    actionable: bool
    by: str
    at: str
    note: NotRequired[str | None]
    scope: NotRequired[Literal["alert", "incident"]]  # "incident": resolve closes the incident
    tenant: NotRequired[str]  # the alert's tenant (for the live stream's filter)


class DeadLetter(TypedDict):
    """Value of ``alerts.deadletter``: the input a stage could not process, and why."""

    stage: str
    error: str
    topic: str
    key: str | None
    value: Any
    at: str


def utc_now() -> str:
    """Now as an RFC 3339 UTC timestamp."""
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with millisecond precision and a ``Z``.

    >>> format_time(datetime(2026, 11, 23, 6, 56, 4, 436795, tzinfo=UTC))
    '2026-11-23T06:56:04.436Z'
    """
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


MAX_CACHED_TIME = 64  # characters of a time text canonical_time keeps


def ms_time(ms: int) -> str:
    """An event time in ms as RFC 3339.

    >>> ms_time(1000)
    '1970-01-01T00:00:01.000Z'
    """
    return format_time(datetime.fromtimestamp(ms / 1000, UTC))


def parse_time(text: str) -> datetime:
    """Parse RFC 3339 (nanoseconds and ``Z`` allowed) into an aware UTC datetime.

    >>> parse_time("2026-11-23T06:56:04.436795043Z").isoformat()
    '2026-11-23T06:56:04.436795+00:00'
    >>> parse_time("2026-11-23T07:56:04+01:00").isoformat()
    '2026-11-23T06:56:04+00:00'
    """
    text = text.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # Go and Sentry send up to nanoseconds; Python takes microseconds
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def canonical_time(text: str) -> str:
    """RFC 3339 text as :func:`format_time` writes it (UTC, milliseconds, ``Z``).

    Cached: the alerts of one request mostly share their times (Alertmanager's zero
    ``endsAt``, a group's ``startsAt``); text longer than any usual form (a fraction of
    thousands of digits is valid) is not kept, so the cache stays small.

    >>> canonical_time("2026-11-23T07:56:04.436795043+01:00")
    '2026-11-23T06:56:04.436Z'
    """
    if len(text) > MAX_CACHED_TIME:
        return format_time(parse_time(text))
    return _canonical_cached(text)


@functools.lru_cache(maxsize=4096)
def _canonical_cached(text: str) -> str:
    return format_time(parse_time(text))


@functools.lru_cache(maxsize=16_384)
def epoch_ms(text: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 timestamp (Kafka message time).

    Cached: the times of one request, and of an alert's re-sends, repeat.

    >>> epoch_ms("1970-01-01T00:00:01.5Z"), epoch_ms("1970-01-01T01:00:01+01:00")
    (1500, 1000)
    """
    try:  # the usual forms, in C: Python 3.11 reads "Z" and up to nanoseconds itself
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = parse_time(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def group_labels(alert: Mapping[str, Any]) -> dict[str, str]:
    """What matchers and ``group_by`` see of an alert: its labels over its main fields.

    >>> group_labels({"tenant": "t", "source": "api", "service": "db", "severity": "info",
    ...               "labels": {"team": "x"}, "template_id": "abc"})["alertname"]
    'abc'
    """
    fields = {name: str(alert.get(name) or "") for name in ("tenant", "source", "service")}
    fields["severity"] = str(alert.get("severity") or "")
    fields["alertname"] = str(alert.get("template_id") or alert.get("title") or "")
    return {**fields, **alert.get("labels", {})}
