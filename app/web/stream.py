"""``GET /api/v1/stream``: the live feed, as a WebSocket or as Server-Sent Events.

A WebSocket when the request upgrades; Server-Sent Events when it accepts
``text/event-stream``. Filters: ``tenant``, ``incident``, ``types`` (comma-separated: alert,
feedback, notification) and, for alerts, those of ``GET /api/v1/alerts``. Each message is one
JSON object with ``type`` and ``cursor``: first ``hello``, then ``alert``, ``notification``,
``feedback``, ``dropped`` (``count`` events this client missed because it read too slowly),
and ``heartbeat`` after 15 s without events. A client resumes with the last cursor it had —
``Last-Event-ID`` (what a browser's EventSource sends) or ``?cursor=`` — and gets what it
missed, then the live events. Authentication and errors are those of every API view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import WSMsgType, web
from faust.web import Request, Response, View
from mode import Service

from app.faust_app import app, settings
from app.live import cursor
from app.live.feed import LiveFeed, TooManyClients
from app.live.hub import Closed, Dropped, Keep, Subscriber
from app.live.sources import TYPES, Event
from app.web.alert_list import alert_filter
from app.web.http import ApiError, guarded, tenant_scope

log = logging.getLogger(__name__)

CAPACITY = 256  # events buffered per client before it drops (and is told how many)
HEARTBEAT_SECONDS = 15.0
WS_HEARTBEAT_SECONDS = 30.0  # WebSocket pings; a client that never answers is closed
ALERT_FILTERS = ("status", "decision", "severity", "service", "fingerprint", "since", "until")

FEED = LiveFeed(settings.bootstrap)

Send = Callable[[str, dict[str, Any]], Awaitable[None]]


def stream_filter(query: Mapping[str, Any]) -> Keep:
    """Which events a client asked for; 400 (``ApiError``) for a bad filter.

    >>> keep = stream_filter({"tenant": "t", "types": "alert", "decision": "notify"})
    >>> alert = {"id": "a", "tenant": "t", "decision": "notify", "starts_at": "2026-01-01T00:00Z"}
    >>> keep(Event("alert", "t", None, {"alert": alert}, "alerts.enriched", 0, 0))
    True
    >>> keep(Event("feedback", "t", None, {"feedback": {}}, "alerts.feedback", 0, 0))
    False
    >>> stream_filter({"types": "alert,gossip"})
    Traceback (most recent call last):
    ...
    app.web.http.ApiError: types: expected some of ('alert', 'feedback', 'notification')
    """
    tenant, incident = query.get("tenant"), query.get("incident")
    types = {t for t in str(query.get("types") or ",".join(TYPES)).split(",") if t}
    if not types <= set(TYPES):
        raise ApiError(400, "invalid_query", f"types: expected some of {TYPES}")
    keep_alert = (
        alert_filter(query) if any(name in query for name in (*ALERT_FILTERS, "filter")) else None
    )

    def keep(event: Event) -> bool:
        if event.type not in types:
            return False
        if (tenant is not None and event.tenant != tenant) or (
            incident is not None and event.incident_id != incident
        ):
            return False
        return keep_alert is None or event.type != "alert" or keep_alert(event.data["alert"])

    return keep


@app.page("/api/v1/stream")
class Stream(View):
    """``GET /api/v1/stream``: WebSocket or Server-Sent Events."""

    @guarded("read")
    async def get(self, request: Request) -> Response:
        """Stream until the client goes away or the worker stops (the caller's tenants only)."""
        wanted, scope = stream_filter(request.query), tenant_scope(request)

        def keep(event: Event) -> bool:
            return (scope is None or event.tenant in scope) and wanted(event)

        resume = request.query.get("cursor") or request.headers.get("Last-Event-ID")
        try:
            start = cursor.decode(resume) if resume else None
        except cursor.CursorError as exc:
            raise ApiError(400, "invalid_cursor", str(exc)) from None
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        if not websocket and "text/event-stream" not in request.headers.get("Accept", ""):
            raise ApiError(
                406,
                "not_acceptable",
                "ask for a WebSocket (Upgrade: websocket) or for Server-Sent Events "
                "(Accept: text/event-stream)",
            )
        try:
            subscriber = await FEED.subscribe(keep, CAPACITY)
        except TooManyClients as exc:
            raise ApiError(503, "too_many_clients", str(exc)) from None
        try:
            if websocket:
                return await _websocket(request, subscriber, start)  # type: ignore[return-value]
            return await _event_stream(request, subscriber, start)  # type: ignore[return-value]
        finally:
            FEED.unsubscribe(subscriber)


async def _event_stream(
    request: Request, subscriber: Subscriber, start: cursor.Position | None
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)  # type: ignore[arg-type]

    async def send(kind: str, message: dict[str, Any]) -> None:
        data = orjson.dumps(message).decode()
        await response.write(f"id: {message['cursor']}\nevent: {kind}\ndata: {data}\n\n".encode())

    with contextlib.suppress(ConnectionError, Closed):
        await _pump(send, subscriber, start)
    return response


async def _websocket(
    request: Request, subscriber: Subscriber, start: cursor.Position | None
) -> web.WebSocketResponse:
    socket = web.WebSocketResponse(heartbeat=WS_HEARTBEAT_SECONDS)
    await socket.prepare(request)  # type: ignore[arg-type]

    async def send(kind: str, message: dict[str, Any]) -> None:
        await socket.send_str(orjson.dumps(message).decode())

    async def listen() -> None:  # the client speaks only to close; its frames are read here
        async for message in socket:
            if message.type == WSMsgType.ERROR:
                return

    pump = asyncio.ensure_future(_pump(send, subscriber, start))
    listener = asyncio.ensure_future(listen())
    try:
        await asyncio.wait({pump, listener}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, listener):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, Closed):
                await task
        await socket.close()
    return socket


async def _pump(send: Send, subscriber: Subscriber, start: cursor.Position | None) -> None:
    """Hello, what the client missed since ``start``, then live events until the end."""
    snapshot = dict(subscriber.position)
    if start is not None:
        subscriber.position = {tp: start.get(tp, offset) for tp, offset in snapshot.items()}
    await send("hello", {"type": "hello", "cursor": cursor.encode(subscriber.position)})
    if start is not None:
        async for event in FEED.replay(start, snapshot, subscriber.keep):
            await _deliver(send, subscriber, event)
        subscriber.position = {
            tp: max(offset, snapshot.get(tp, 0)) for tp, offset in subscriber.position.items()
        }
    while True:
        item = await subscriber.take(HEARTBEAT_SECONDS)
        if item is None:
            if subscriber.caught_up():  # nothing it wants was left out: jump to the feed's end
                for tp, offset in FEED.hub.position.items():
                    subscriber.position[tp] = max(offset, subscriber.position.get(tp, 0))
            position = cursor.encode(subscriber.position)
            await send("heartbeat", {"type": "heartbeat", "cursor": position})
        elif isinstance(item, Dropped):
            position = cursor.encode(subscriber.position)
            await send("dropped", {"type": "dropped", "count": item.count, "cursor": position})
        else:
            await _deliver(send, subscriber, item)


async def _deliver(send: Send, subscriber: Subscriber, event: Event) -> None:
    tp = (event.topic, event.partition)
    if event.offset < subscriber.position.get(tp, 0):
        return  # had it already (a cursor from a worker whose feed was further)
    subscriber.position[tp] = event.offset + 1
    message = {"type": event.type, **event.data, "cursor": cursor.encode(subscriber.position)}
    await send(event.type, message)


@app.service
class LiveFeedService(Service):
    """Stops the feed (and so every stream) when the worker stops."""

    async def on_stop(self) -> None:
        """Close the streams, then the feed's consumer."""
        await FEED.stop()
