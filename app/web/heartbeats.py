"""``/api/v1/heartbeats``: ping a heartbeat, see them all (:mod:`app.heartbeats`)."""

from __future__ import annotations

import time

from faust.web import Request, Response, View
from yarl import URL

from agents.heartbeats import state_of
from app import topics
from app.current_config import current
from app.faust_app import app
from app.heartbeats import Heartbeat, view
from app.records import utc_now
from app.stages import send
from app.web.http import ApiError, acknowledged, answer, caller, guarded, require_tenant
from app.web.routing import Rebalancing, forward, owner_of
from tables.heartbeats import heartbeats as heartbeats_table


@app.page("/api/v1/heartbeats")
class HeartbeatList(View):
    """``GET``: every configured heartbeat with its last ping and status."""

    @guarded("read")
    async def get(self, request: Request) -> Response:
        """Those of the caller's tenants, answered by the worker that owns the heartbeats."""
        owner = _owner()
        if owner is not None:
            return await forward(self, request, owner)
        now = int(time.time() * 1000)
        found = [
            view(hb, state_of(name), now)
            for name, hb in current().heartbeats.items()
            if caller().serves(hb.tenant)
        ]
        return answer(self, {"heartbeats": found})


@app.page("/api/v1/heartbeats/{name}")
class HeartbeatPing(View):
    """``POST``: a ping of heartbeat ``name``; ``GET``: its status."""

    @guarded("ingest")
    async def post(self, request: Request, name: str) -> Response:
        """202 once the ping is in Kafka; 404 for a heartbeat that is not configured; 403 for
        a heartbeat of another tenant."""
        require_tenant(_configured(name).tenant)
        ping = {"kind": "ping", "at": utc_now(), "via": "http"}
        await acknowledged(_send(name, ping))
        return answer(self, {"name": name, "at": ping["at"]}, 202)

    @guarded("read")
    async def get(self, request: Request, name: str) -> Response:
        """The heartbeat's status, answered by the worker that owns the heartbeats."""
        heartbeat = _configured(name)
        require_tenant(heartbeat.tenant)
        owner = _owner()
        if owner is not None:
            return await forward(self, request, owner)
        return answer(self, view(heartbeat, state_of(name), int(time.time() * 1000)))


async def _send(name: str, ping: dict[str, str]) -> None:
    await send(topics.heartbeats, name, ping)  # acknowledged by Kafka


def _owner() -> URL | None:
    """The worker that holds the heartbeats (their one partition), or ``None`` when it is us."""
    try:
        return owner_of(heartbeats_table, "heartbeats")  # any key: one partition
    except Rebalancing:
        detail = "partitions are being reassigned between workers; try again shortly"
        raise ApiError(503, "rebalancing", detail) from None


def _configured(name: str) -> Heartbeat:
    heartbeat = current().heartbeats.get(name)
    if heartbeat is None:
        known = ", ".join(current().heartbeats) or "none"
        raise ApiError(404, "not_found", f"no heartbeat {name!r} is configured (known: {known})")
    return heartbeat
