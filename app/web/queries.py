"""Table views: alerts, incidents and fingerprints, answered by the worker that owns the key."""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response, View
from yarl import URL

from agents.dedup import table_key
from app.faust_app import app
from app.web.http import ApiError, answer, guarded, tenant_of
from tables.alerts import alerts as alerts_table
from tables.dedup import dedup as dedup_table
from tables.fingerprint_stats import fingerprint_stats as stats_table
from tables.incidents import incidents as incidents_table

INCIDENT_STATUSES = ("firing", "resolved")
MAX_LIMIT = 1000


def incident_view(incident: dict[str, Any]) -> dict[str, Any]:
    """An incident as the API shows it: its alert ids, first/last seen, status."""
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
    }


@app.page("/api/v1/alerts/{alert_id}")
class AlertView(View):
    """``GET /api/v1/alerts/{id}``: the latest enriched alert, with its feedback."""

    @app.table_route(table=alerts_table, match_info="alert_id")
    @guarded()
    async def get(self, request: Request, alert_id: str) -> Response:
        """The alert or 404."""
        entry = alerts_table.get(alert_id)
        if entry is None or entry["alert"] is None:
            raise ApiError(404, "not_found", f"no alert {alert_id}")
        view = {
            **entry["alert"],
            "feedback": entry["feedback"],
            "acknowledged": entry["acknowledged"],
        }
        return answer(self, view)


@app.page("/api/v1/incidents")
class IncidentList(View):
    """``GET /api/v1/incidents?tenant=&status=&limit=``: newest first, from every worker."""

    @guarded()
    async def get(self, request: Request) -> Response:
        """This worker's incidents, merged with the other workers' unless ``local=1``."""
        tenant, status = request.query.get("tenant"), request.query.get("status")
        if status is not None and status not in INCIDENT_STATUSES:
            raise ApiError(400, "invalid_query", f"status: expected one of {INCIDENT_STATUSES}")
        limit = _limit(request.query.get("limit", "50"))
        chosen = [
            incident_view(incident)
            for incident in incidents_table.values()
            if (tenant is None or incident["tenant"] == tenant)
            and (status is None or incident["status"] == status)
        ]
        if request.query.get("local") != "1":
            chosen += await _from_other_workers(request)
        chosen.sort(key=lambda incident: incident["last_seen"], reverse=True)
        return answer(self, {"incidents": chosen[:limit]})


async def _from_other_workers(request: Request) -> list[dict[str, Any]]:
    """The same query answered by every other worker that holds incident partitions."""
    here = str(app.conf.canonical_url)
    others = [url for url in app.router.table_metadata(incidents_table.name) if url != here]
    headers = {"Authorization": request.headers.get("Authorization", "")}
    found: list[dict[str, Any]] = []
    for url in others:
        target = URL(url).with_path(request.path).with_query({**request.query, "local": "1"})
        async with app.http_client.get(target, headers=headers) as response:
            if response.status != 200:
                raise ApiError(503, "worker_unavailable", f"{url} answered {response.status}")
            found += (await response.json())["incidents"]
    return found


@app.page("/api/v1/incidents/{incident_id}")
class IncidentView(View):
    """``GET /api/v1/incidents/{id}``."""

    @app.table_route(table=incidents_table, match_info="incident_id")
    @guarded()
    async def get(self, request: Request, incident_id: str) -> Response:
        """The incident or 404."""
        incident = incidents_table.get(incident_id)
        if incident is None:
            raise ApiError(404, "not_found", f"no incident {incident_id}")
        return answer(self, incident_view(incident))


@app.page("/api/v1/fingerprints/{fingerprint}")
class FingerprintView(View):
    """``GET /api/v1/fingerprints/{fp}?tenant=``: count, first/last seen, template, acks."""

    @app.table_route(table=dedup_table, match_info="fingerprint")
    @guarded()
    async def get(self, request: Request, fingerprint: str) -> Response:
        """The statistics or 404 (the dedup and statistics tables share partitions)."""
        key = table_key(tenant_of(request), fingerprint)
        episode, stats = dedup_table.get(key), stats_table.get(key)
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


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, "invalid_query", f"limit: expected 1 to {MAX_LIMIT}, got {text!r}")
    return int(text)
