"""The ingest endpoints: Alertmanager, Sentry webhooks, Sentry SDK envelopes, the plain API."""

from __future__ import annotations

from typing import Any

from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from app import health
from app.bridge import REQUEST_PARTITIONS, REQUEST_TOPICS, counted, publish, send
from app.current_config import current
from app.faust_app import app, settings
from app.parse_pool import POOL_BYTES, parse_pool
from app.parsing import Decided, Forbidden, Kafka, Refused, Source, Unwritten, Written
from app.prepare import Request as Prepared
from app.records import RawAlert, utc_now
from app.runtime.bulk import accepting
from app.sources import (
    ALERT_RESOURCES,
    split_envelope,
    split_sentry_webhook,
    verify_signature,
)
from app.web.alert_list import list_alerts
from app.web.http import (
    acknowledged,
    answer,
    caller,
    forbidden_tenant,
    guarded,
    header,
    require_json_media_type,
    require_tenant,
    tenant_of,
    tenant_scope,
)


@app.page("/webhooks/alertmanager")
class AlertmanagerWebhook(View):
    """``POST /webhooks/alertmanager``: an Alertmanager webhook, version 4."""

    @guarded("ingest")
    async def post(self, request: Request) -> Response:
        """Accept every alert of the group; 202 with their ids, in order."""
        require_json_media_type(request)
        ids, _ = await accepted("alertmanager", request)
        return answer(self, {"ids": ids}, 202)


@app.page("/webhooks/sentry")
class SentryWebhook(View):
    """``POST /webhooks/sentry``: a Sentry integration-platform webhook."""

    @guarded("ingest")
    async def post(self, request: Request) -> Response:
        """Alerts for issue, event_alert, metric_alert and error; 204 for other resources."""
        require_json_media_type(request)
        body = await request.read()
        if settings.sentry_client_secret:
            verify_signature(
                body, header(request, "Sentry-Hook-Signature"), settings.sentry_client_secret
            )
        resource = header(request, "Sentry-Hook-Resource")
        if resource not in ALERT_RESOURCES:
            return self.bytes(b"", status=204)
        raws = split_sentry_webhook(
            body, resource=resource, tenant=tenant_of(request), received_at=utc_now()
        )
        return answer(self, {"ids": await acknowledged(publish(own(raws)))}, 202)


@app.page("/api/{project_id}/envelope/")
class SentryEnvelope(View):
    """``POST /api/<project>/envelope/``: what ``sentry-sdk`` sends to its DSN."""

    @guarded("ingest", dsn=True)
    async def post(self, request: Request, project_id: str) -> Response:
        """Events become alerts; other items are accepted and ignored. 200 with the event id."""
        event_id, raws = split_envelope(
            await request.read(),  # aiohttp has undone gzip/deflate within the size limit
            project_id=project_id,
            tenant=tenant_of(request),
            received_at=utc_now(),
        )
        await acknowledged(publish(own(raws)))
        return answer(self, {"id": event_id}, 200)


@app.page("/api/v1/alerts")
class AlertsApi(View):
    """``POST /api/v1/alerts``: one plain JSON alert or a list of them; ``GET`` lists alerts."""

    @guarded("read")
    async def get(self, request: Request) -> Response:
        """Alerts of every worker, filtered and paged (:mod:`app.web.alert_list`), of the
        tenants the caller may read."""
        return answer(self, await list_alerts(request, tenant_scope(request)))

    @guarded("ingest")
    async def post(self, request: Request) -> Response:
        """Accept the alerts; 202 with their ids, in order."""
        require_json_media_type(request)
        ids, _ = await accepted("api", request)
        return answer(self, {"ids": ids}, 202)


async def accepted(source: Source, request: Request, **options: Any) -> tuple[list[str], list[str]]:
    """Accept the alerts of the request's body (parsed, and written, in :mod:`app.parse_pool`
    when large, the stages holding back meanwhile): their ids once Kafka has them, and the
    alerts the source refused on their own; refusals raised as the answer to give, in order:
    the body's, the tenant's, a broker outage, the alerts'.

    A parse process writes only while the broker is not known gone, so a bad body still gets
    its 400 before the outage's 503; a broker that goes while a process writes is answered 503
    within a probe round, the process's write abandoned.
    """
    body = await request.read()
    options.update(tenant=tenant_of(request), received_at=utc_now())
    bulk = len(body) >= POOL_BYTES
    with accepting(bulk=bulk):
        writes = bulk and not health.fault(health.BROKER)
        decided = Decided(
            caller().tenants,
            current().heartbeats,
            REQUEST_PARTITIONS,
            Kafka(settings.bootstrap, REQUEST_TOPICS) if writes else None,
        )
        parsing = parse_pool.parse(source, body, decided, **options)
        parsed = await (acknowledged(parsing) if writes else parsing)
        if isinstance(parsed, Forbidden):
            raise forbidden_tenant(parsed.tenant)
        if isinstance(parsed, Refused):
            raise parsed.error()
        ids = await acknowledged(_written(parsed.prepared)) if parsed.alerts else []
    return ids, parsed.refused


async def _written(prepared: Prepared | Refused | Written | Unwritten) -> list[str]:
    """Send the prepared alerts (unless their parse process did); raise why they could not be
    prepared or written."""
    if isinstance(prepared, Refused):
        raise prepared.error()
    if isinstance(prepared, Unwritten):
        raise KafkaError(prepared.why)
    if isinstance(prepared, Written):
        counted(prepared.sources)
        return prepared.ids
    return await send(prepared)


def own(raws: list[RawAlert]) -> list[RawAlert]:
    """``raws``, when the caller may act for every alert's tenant (an alert may name its own)."""
    for tenant in {raw["tenant"] for raw in raws}:
        require_tenant(tenant)
    return raws
