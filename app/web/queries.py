"""Table views: alerts, incidents and fingerprints, answered by the worker that owns the key."""

from __future__ import annotations

import re
from typing import Any

from faust.exceptions import SameNode
from faust.web import Request, Response, View

from agents.dedup import table_key
from app import lifecycle
from app.faust_app import app
from app.records import format_time, parse_time
from app.web.actions import actions_of
from app.web.http import ApiError, answer, guarded, require_tenant, tenant_of, tenant_scope
from app.web.routing import from_other_workers, partitions_known, routed
from tables.alerts import alerts as alerts_table
from tables.dedup import dedup as dedup_table
from tables.dedup import dedup_rows
from tables.fingerprint_stats import fingerprint_stats as stats_table
from tables.incidents import incidents as incidents_table
from tables.templates import templates as templates_table

INCIDENT_STATUSES = ("firing", "resolved")
MAX_LIMIT = 1000
_DIGITS = re.compile(r"[0-9]{1,9}")


def incident_view(incident: dict[str, Any]) -> dict[str, Any]:
    """An incident as the API shows it: its alert ids, first/last seen, status; who
    acknowledged and resolved it, and its timeline (:mod:`app.lifecycle`)."""
    return {
        "id": incident["id"],
        "tenant": incident["tenant"],
        "status": incident["status"],
        "title": incident["title"],
        "severity": incident["severity"],
        "score": incident["score"],
        "alert_ids": list(incident["alerts"]),
        "alert_count": len(incident["alerts"]),
        "alerts": incident["alerts"],
        "services": incident["services"],
        "templates": incident["templates"],
        "first_seen": incident["first_seen"],
        "last_seen": incident["last_seen"],
        "reasons": incident["reasons"],
        "notified": incident["notified"],
        **lifecycle.view(incident),
    }


@app.page("/api/v1/alerts/{alert_id}")
class AlertView(View):
    """``GET /api/v1/alerts/{id}``: the latest enriched alert, with its feedback."""

    @routed(alerts_table, "alert_id")
    @guarded("read")
    async def get(self, request: Request, alert_id: str) -> Response:
        """The alert or 404."""
        entry = alerts_table.get(alert_id)
        if entry is None or entry["alert"] is None:
            raise ApiError(404, "not_found", f"no alert {alert_id}")
        require_tenant(entry["alert"]["tenant"])
        view = {
            **entry["alert"],
            "feedback": entry["feedback"],
            "acknowledged": entry["acknowledged"],
        }
        return answer(self, view)


@app.page("/api/v1/incidents")
class IncidentList(View):
    """``GET /api/v1/incidents``: newest first, from every worker.

    Filters: ``tenant``, ``status``, ``service``, ``template`` (a template id or words of the
    template), ``since`` and ``until`` (RFC 3339, on last seen); paging: ``limit`` (1–1000,
    default 50) and ``offset``; the answer says ``total`` and ``next_offset`` (null at the end).
    """

    @guarded("read")
    async def get(self, request: Request) -> Response:
        """This worker's incidents, merged with the other workers' unless ``local=1``."""
        scope = tenant_scope(request)
        wanted = incident_filter(request.query)

        def keep(incident: dict[str, Any]) -> bool:
            return (scope is None or incident["tenant"] in scope) and wanted(incident)

        limit = _limit(request.query.get("limit", "50"))
        offset = _whole(request.query.get("offset", "0"), "offset")
        chosen = [incident_view(i) for i in incidents_table.values() if keep(i)]
        if request.query.get("local") != "1":
            chosen += await from_other_workers(
                request, incidents_table.name, "incidents", min(offset + limit, MAX_LIMIT)
            )
        chosen.sort(key=lambda incident: (incident["last_seen"], incident["id"]), reverse=True)
        page = chosen[offset : offset + limit]
        following = offset + limit if offset + limit < len(chosen) else None
        return answer(self, {"incidents": page, "total": len(chosen), "next_offset": following})


def incident_filter(query: Any) -> Any:
    """The predicate of the incident filters in ``query``; 400 for a bad value.

    >>> keep = incident_filter({"status": "firing", "service": "db", "since": "2026-01-01T00:00Z"})
    >>> keep({"tenant": "t", "status": "firing", "services": ["db"], "templates": [],
    ...       "last_seen": "2026-01-02T00:00:00.000Z"})
    True
    """
    tenant, status, service = query.get("tenant"), query.get("status"), query.get("service")
    template = query.get("template")
    if status is not None and status not in INCIDENT_STATUSES:
        raise ApiError(400, "invalid_query", f"status: expected one of {INCIDENT_STATUSES}")
    since, until = _time(query.get("since"), "since"), _time(query.get("until"), "until")

    def keep(incident: dict[str, Any]) -> bool:
        last_seen = format_time(parse_time(incident["last_seen"]))
        return (
            (tenant is None or incident["tenant"] == tenant)
            and (status is None or incident["status"] == status)
            and (service is None or service in incident["services"])
            and (template is None or any(template in t for t in incident["templates"]))
            and (since is None or last_seen >= since)
            and (until is None or last_seen <= until)
        )

    return keep


@app.page("/api/v1/clusters")
class ClusterList(View):
    """``GET /api/v1/clusters?tenant=&min_count=&limit=``: a tenant's recurring templates.

    Every template the tenant's miner holds with at least ``min_count`` (default 2) messages,
    most frequent first: ``{template_id, template, count}``.
    """

    @guarded("read")
    async def get(self, request: Request) -> Response:
        """Answered by the worker that owns the tenant's templates."""
        tenant = tenant_of(request)
        await partitions_known(templates_table)
        try:
            return await app.router.route_req(templates_table.name, tenant, self.web, request)
        except SameNode:
            pass
        limit = _limit(request.query.get("limit", "50"))
        least = _whole(request.query.get("min_count", "2"), "min_count")
        state = templates_table.get(tenant) or {"clusters": []}
        clusters = [
            {"template_id": cid, "template": variants[-1][1], "count": count}
            for cid, count, variants in state["clusters"]
            if count >= least and variants
        ]
        clusters.sort(key=lambda c: (-c["count"], c["template_id"]))
        return answer(self, {"tenant": tenant, "clusters": clusters[:limit]})


@app.page("/api/v1/incidents/{incident_id}")
class IncidentView(View):
    """``GET /api/v1/incidents/{id}``."""

    @routed(incidents_table, "incident_id")
    @guarded("read")
    async def get(self, request: Request, incident_id: str) -> Response:
        """The incident or 404."""
        incident = incidents_table.get(incident_id)
        if incident is None:
            raise ApiError(404, "not_found", f"no incident {incident_id}")
        require_tenant(incident["tenant"])
        return answer(self, {**incident_view(incident), "actions": await actions_of(incident_id)})


@app.page("/api/v1/fingerprints/{fingerprint}")
class FingerprintView(View):
    """``GET /api/v1/fingerprints/{fp}?tenant=``: count, first/last seen, template, acks."""

    @routed(dedup_table, "fingerprint")
    @guarded("read")
    async def get(self, request: Request, fingerprint: str) -> Response:
        """The statistics or 404 (the dedup and statistics tables share partitions)."""
        key = table_key(tenant_of(request), fingerprint)
        episode, stats = dedup_rows.get(key), stats_table.get(key)
        if episode is None:
            raise ApiError(404, "not_found", f"no fingerprint {fingerprint}")
        view = {
            "fingerprint": fingerprint,
            "tenant": tenant_of(request),
            "count": episode["total"],
            "episodes": episode["episodes"],
            "first_seen": episode["since"],
            "last_seen": episode["last_seen"],
            "status": episode["status"],
            "alert_id": episode["alert_id"],
            "episode_count": episode["count"],
            **(stats or {}),
        }
        return answer(self, view)


def _whole(text: str, name: str) -> int:
    """A whole number of ASCII digits, up to a billion (``²`` and 5,000 digits are refused).

    >>> _whole("12", "offset")
    12
    >>> _whole("²", "offset")
    Traceback (most recent call last):
    ...
    app.web.http.ApiError: offset: expected a whole number, got '²'
    """
    if _DIGITS.fullmatch(text) is None:
        raise ApiError(400, "invalid_query", f"{name}: expected a whole number, got {text[:20]!r}")
    return int(text)


def _time(text: str | None, name: str) -> str | None:
    if text is None:
        return None
    try:
        return format_time(parse_time(text))
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_query", f"{name}: expected an RFC 3339 time") from None


def _limit(text: str) -> int:
    if _DIGITS.fullmatch(text) is None or not 1 <= int(text) <= MAX_LIMIT:
        detail = f"limit: expected 1 to {MAX_LIMIT}, got {text[:20]!r}"
        raise ApiError(400, "invalid_query", detail)
    return int(text)
