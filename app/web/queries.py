"""Table views: alerts, incidents and fingerprints, answered by the worker that holds them."""

from __future__ import annotations

import re
from typing import Any

from faust.web import Request, Response, View

from app.faust_app import app
from app.identity import episode_key
from app.records import canonical_time
from app.runtime.partitions import partition_of
from app.topics import PARTITIONS
from app.triage.templates import records
from app.web.actions import actions_of
from app.web.http import (
    ApiError,
    answer,
    guarded,
    query_time,
    require_tenant,
    tenant_of,
    tenant_scope,
)
from app.web.lookup import find, here, incident_view
from app.web.routing import (
    from_other_workers,
    routed,
)
from tables.dedup import dedup
from tables.fingerprint_stats import fingerprint_stats
from tables.incidents import incidents, is_head
from tables.triage import triage

INCIDENT_STATUSES = ("firing", "resolved")
MAX_LIMIT = 1000
STATS_FIELDS = ("template_id", "template", "acks", "resolves", "actionable", "noise")
_DIGITS = re.compile(r"[0-9]{1,9}")


@app.page("/api/v1/alerts/{alert_id}")
class AlertView(View):
    """``GET /api/v1/alerts/{id}``: the latest enriched alert, with its feedback.

    Any worker answers: it asks the others when the alert is not in its partitions. An id that
    joined another alert's episode answers that alert, with ``requested_id`` and ``joined``.
    """

    @guarded("read")
    async def get(self, request: Request, alert_id: str) -> Response:
        """The alert or 404 (``?local=1``: this worker's partitions only, for the others)."""
        if request.query.get("local") == "1":
            found, joined = here(alert_id)
            if found is not None:
                return answer(self, found)
            detail = f"no alert {alert_id} on this worker"
            return answer(self, {"error": "not_found", "detail": detail, "joined": joined}, 404)
        found = await find(request, alert_id)
        if found is None:
            raise ApiError(404, "not_found", f"no alert {alert_id}")
        require_tenant(found["alert"]["tenant"])
        return answer(self, found["alert"])


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
        heads = (incident_view(row) for key, row in incidents.items() if _listed(key, row))
        chosen = [incident for incident in heads if keep(incident)]
        if request.query.get("local") != "1":
            chosen += await from_other_workers(
                request, incidents, "incidents", min(offset + limit, MAX_LIMIT)
            )
        chosen.sort(key=lambda incident: (incident["last_seen"], incident["id"]), reverse=True)
        page = chosen[offset : offset + limit]
        following = offset + limit if offset + limit < len(chosen) else None
        return answer(self, {"incidents": page, "total": len(chosen), "next_offset": following})


def _listed(key: str, row: Any) -> bool:
    """An incident's head: not bookkeeping, not one merged into another (``GET`` by id shows
    where it went)."""
    return is_head(key) and row["merged_into"] is None and bool(row["first_seen"])


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
    since, until = query_time(query.get("since"), "since"), query_time(query.get("until"), "until")

    def keep(incident: dict[str, Any]) -> bool:
        last_seen = canonical_time(incident["last_seen"])
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
    @routed(triage, tenant_of)
    async def get(self, request: Request) -> Response:
        """Answered by the worker that owns the tenant's templates."""
        tenant = tenant_of(request)
        limit = _limit(request.query.get("limit", "50"))
        least = _whole(request.query.get("min_count", "2"), "min_count")
        partition = partition_of(tenant, PARTITIONS)
        clusters = [
            {"template_id": cid, "template": record["variants"][-1][1], "count": record["count"]}
            for cid, record in records(lambda key: triage.read(partition, key), tenant)
            if record["count"] >= least and record["variants"]
        ]
        clusters.sort(key=lambda c: (-c["count"], c["template_id"]))
        return answer(self, {"tenant": tenant, "clusters": clusters[:limit]})


@app.page("/api/v1/incidents/{incident_id}")
class IncidentView(View):
    """``GET /api/v1/incidents/{id}``."""

    @routed(incidents, "incident_id")
    @guarded("read")
    async def get(self, request: Request, incident_id: str) -> Response:
        """The incident or 404."""
        partition = partition_of(incident_id, PARTITIONS)
        head = incidents.read(partition, incident_id) if is_head(incident_id) else None
        if head is None:
            raise ApiError(404, "not_found", f"no incident {incident_id}")
        require_tenant(head["tenant"])
        return answer(self, {**incident_view(head), "actions": await actions_of(incident_id)})


def _episode_of(request: Request) -> str:
    """The dedup row of the URL's fingerprint for the tenant the request speaks for."""
    return episode_key(tenant_of(request), request.match_info["fingerprint"])


@app.page("/api/v1/fingerprints/{fingerprint}")
class FingerprintView(View):
    """``GET /api/v1/fingerprints/{fp}?tenant=``: count, first/last seen, template, acks.

    The episode row (dedup) and the feedback statistics share the fingerprint's partition; the
    template is the statistics' (from the last feedback) or the current episode's alert's.
    """

    @guarded("read")
    @routed(dedup, _episode_of)
    async def get(self, request: Request, fingerprint: str) -> Response:
        """The statistics or 404."""
        key = _episode_of(request)
        partition = partition_of(key, PARTITIONS)  # ours: read with the counts not yet written
        episode = dedup.read(partition, key)
        stats = fingerprint_stats.read(partition, key) or {}
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
            "last_feedback_at": stats.get("last_feedback_at"),
            **{name: stats.get(name, 0) for name in STATS_FIELDS},
        }
        if not view["template"]:
            found = await find(request, episode["alert_id"])
            alert = found["alert"] if found else {}
            view |= {"template_id": alert.get("template_id"), "template": alert.get("template")}
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


def _limit(text: str) -> int:
    if _DIGITS.fullmatch(text) is None or not 1 <= int(text) <= MAX_LIMIT:
        detail = f"limit: expected 1 to {MAX_LIMIT}, got {text[:20]!r}"
        raise ApiError(400, "invalid_query", detail)
    return int(text)
