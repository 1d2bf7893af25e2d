"""``GET /api/v1/alerts``: the alerts of every worker, filtered and paged like the incidents.

Filters: ``tenant``, ``status`` (firing, resolved), ``decision`` (notify, suppress, digest),
``severity``, ``service``, ``fingerprint``, ``incident``, ``since``/``until`` (RFC 3339, on the
alert's start) and ``filter`` (repeatable Alertmanager matchers such as ``alertname="X"``, on
the labels silences see: what a silence with those matchers would match). Paging: ``limit``
(1–1000, default 50) and ``offset``; newest first. The answer is ``{"alerts": [...], "total",
"next_offset"}``.

Where the alerts come from is :func:`held_alerts`, the one place that reads storage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from faust.web import Request

from app.matchers import MatcherError, parse_matcher
from app.notify.member import view
from app.records import canonical_time, group_labels
from app.web.http import ApiError, query_time
from app.web.routing import from_other_workers
from tables.members import members

STATUSES = ("firing", "resolved")
DECISIONS = ("notify", "suppress", "digest")
MAX_LIMIT = 1000
PATH = "/api/v1/alerts"

AlertFilter = Callable[[Mapping[str, Any]], bool]


def held_alerts() -> Iterator[dict[str, Any]]:
    """The alerts this worker holds (its partitions' member rows, a scan), each as ``GET
    /api/v1/alerts/{id}`` shows it."""
    for key, row in members.items():
        if not key.startswith("\x00"):  # expiry buckets sit beside the members
            yield view(row)


async def list_alerts(
    request: Request,
    tenants: frozenset[str] | None = None,
    query: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The answer of ``GET /api/v1/alerts``: this worker's matches merged with the others'
    (who apply the same token); only alerts of ``tenants`` (``None``: every tenant).

    ``query`` replaces the request's own (another view asking for alerts: ``/api/v2/alerts``).
    """
    query = request.query if query is None else query
    wanted = alert_filter(query)

    def keep(alert: Mapping[str, Any]) -> bool:
        return (tenants is None or alert["tenant"] in tenants) and wanted(alert)

    limit = whole(query.get("limit", "50"), "limit", low=1, high=MAX_LIMIT)
    offset = whole(query.get("offset", "0"), "offset")
    chosen = [alert for alert in held_alerts() if keep(alert)]
    if query.get("local") != "1":
        chosen += await from_other_workers(
            request,
            members,
            "alerts",
            min(offset + limit, MAX_LIMIT),
            path=PATH,
            query=query,
        )
    return page_of(chosen, offset, limit)


def page_of(alerts: list[dict[str, Any]], offset: int, limit: int) -> dict[str, Any]:
    """Newest first (by start, then id), one page of it, the total and the next offset.

    >>> alerts = [{"id": str(i), "starts_at": f"2026-01-0{i}T00:00:00Z"} for i in (1, 2, 3)]
    >>> page = page_of(alerts, 0, 2)
    >>> [a["id"] for a in page["alerts"]], page["total"], page["next_offset"]
    (['3', '2'], 3, 2)
    >>> page_of(alerts, 2, 2)["next_offset"] is None
    True
    """
    alerts.sort(key=lambda alert: (canonical_time(alert["starts_at"]), alert["id"]))
    alerts.reverse()
    following = offset + limit if offset + limit < len(alerts) else None
    chosen = alerts[offset : offset + limit]
    return {"alerts": chosen, "total": len(alerts), "next_offset": following}


def alert_filter(query: Mapping[str, Any]) -> AlertFilter:
    """The predicate of the alert filters in ``query``; 400 (``ApiError``) for a bad value.

    >>> keep = alert_filter({"status": "firing", "decision": "notify", "severity": "critical"})
    >>> alert = {"tenant": "t", "status": "firing", "decision": "notify", "severity": "critical",
    ...          "service": "db", "fingerprint": "f", "incident_id": "i",
    ...          "starts_at": "2026-01-01T00:00:00Z", "labels": {"team": "x"}}
    >>> keep(alert), keep({**alert, "decision": "suppress"})
    (True, False)
    >>> alert_filter({"filter": ['team="x"', "service=~d."]})(alert)
    True
    >>> alert_filter({"decision": "page"})
    Traceback (most recent call last):
    ...
    app.web.http.ApiError: decision: expected one of ('notify', 'suppress', 'digest')
    """
    equal = {
        field: query.get(name)
        for name, field in (
            ("tenant", "tenant"),
            ("status", "status"),
            ("decision", "decision"),
            ("severity", "severity"),
            ("service", "service"),
            ("fingerprint", "fingerprint"),
            ("incident", "incident_id"),
        )
        if query.get(name) is not None
    }
    if equal.get("status") not in (None, *STATUSES):
        raise ApiError(400, "invalid_query", f"status: expected one of {STATUSES}")
    if equal.get("decision") not in (None, *DECISIONS):
        raise ApiError(400, "invalid_query", f"decision: expected one of {DECISIONS}")
    since, until = query_time(query.get("since"), "since"), query_time(query.get("until"), "until")
    matchers = [_matcher(text) for text in _all(query, "filter")]

    def keep(alert: Mapping[str, Any]) -> bool:
        if any(alert.get(field) != value for field, value in equal.items()):
            return False
        if since is not None or until is not None:
            started = canonical_time(alert["starts_at"])
            if (since is not None and started < since) or (until is not None and started > until):
                return False
        if matchers:
            labels = group_labels(alert)
            return all(matcher.matches(labels) for matcher in matchers)
        return True

    return keep


def whole(text: str, name: str, low: int = 0, high: int | None = None) -> int:
    """A whole number from the query, within bounds; 400 otherwise.

    >>> whole("7", "limit", low=1, high=10)
    7
    >>> whole("²", "offset")
    Traceback (most recent call last):
    ...
    app.web.http.ApiError: offset: expected a whole number from 0, got '²'
    """
    bounds = f"from {low}" if high is None else f"from {low} to {high}"
    detail = f"{name}: expected a whole number {bounds}, got {text!r}"
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise ApiError(400, "invalid_query", detail)
    number = int(text)
    if number < low or (high is not None and number > high):
        raise ApiError(400, "invalid_query", detail)
    return number


def _all(query: Mapping[str, Any], name: str) -> list[str]:
    getall = getattr(query, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    value = query.get(name)
    return value if isinstance(value, list) else [] if value is None else [value]


def _matcher(text: str) -> Any:
    try:
        return parse_matcher(text)
    except MatcherError as exc:
        raise ApiError(400, "invalid_query", f"filter: {exc}") from None
