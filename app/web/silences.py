"""``/api/v1/silences``: create, list, read and expire silences (Alertmanager's shapes).

A write goes to the compacted topic ``silences``, the changelog of :mod:`tables.silences`; every
worker's table follows it within moments, so any worker answers and all of them mute.
"""

from __future__ import annotations

import time
from typing import Any

from faust.web import Request, Response, View

from app import topics
from app.faust_app import app
from app.records import utc_now
from app.silences import Silence, SilenceError, expire, parse_silence, state
from app.stages import send
from app.web.http import ApiError, acknowledged, answer, caller, guarded, read_json
from tables.silences import silences as silences_table

STATES = ("pending", "active", "expired")


def silence_view(silence: Silence, now_ms: int) -> dict[str, Any]:
    """A silence as the API shows it: with its state now, as Alertmanager's ``status``.

    >>> s = {"id": "s1", "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2026-01-01T01:00:00Z"}
    >>> silence_view(s, 0)["status"]
    {'state': 'pending'}
    """
    return {**silence, "status": {"state": state(silence, now_ms)}}


async def write_silence(silence: Silence) -> None:
    """Put the silence on its compacted topic; every worker's table follows."""
    await send(topics.silences, silence["id"], silence, json_key=True)


@app.page("/api/v1/silences")
class Silences(View):
    """``POST`` a silence, ``GET`` them all (``?state=active|pending|expired``)."""

    @guarded("operate")
    async def post(self, request: Request) -> Response:
        """202 with the id once the silence is in Kafka; a body with ``id`` updates that one."""
        try:
            silence = parse_silence(await read_json(request), now=utc_now())
        except SilenceError as exc:
            raise ApiError(400, "invalid_silence", str(exc)) from None
        require_in_scope(silence)
        if (existing := silences_table.get(silence["id"])) is not None:
            require_in_scope(existing)
        await acknowledged(write_silence(silence))
        return answer(self, {"id": silence["id"], "silenceID": silence["id"]}, 202)

    @guarded("read")
    async def get(self, request: Request) -> Response:
        """Every silence the caller may see, newest first."""
        wanted = request.query.get("state")
        if wanted is not None and wanted not in STATES:
            raise ApiError(400, "invalid_query", f"state: expected one of {STATES}")
        now = _now_ms()
        views = [silence_view(s, now) for s in silences_table.values() if in_scope(s)]
        chosen = [v for v in views if wanted is None or v["status"]["state"] == wanted]
        chosen.sort(key=lambda v: v["updated_at"], reverse=True)
        return answer(self, {"silences": chosen})


@app.page("/api/v1/silences/{silence_id}")
class SilenceView(View):
    """``GET`` one silence, ``DELETE`` to expire it (it stays listed, as expired)."""

    @guarded("read")
    async def get(self, request: Request, silence_id: str) -> Response:
        """The silence or 404."""
        return answer(self, silence_view(_find(silence_id), _now_ms()))

    @guarded("operate")
    async def delete(self, request: Request, silence_id: str) -> Response:
        """202 once the expired silence is in Kafka."""
        silence = expire(_find(silence_id), utc_now())
        await acknowledged(write_silence(silence))
        return answer(self, silence_view(silence, _now_ms()), 202)


def _find(silence_id: str) -> Silence:
    silence: Silence | None = silences_table.get(silence_id)
    if silence is None:
        raise ApiError(404, "not_found", f"no silence {silence_id}")
    require_in_scope(silence)
    return silence


def silence_tenant(silence: Silence) -> str | None:
    """The tenant a silence is limited to by an equality matcher on ``tenant``, if any.

    >>> silence_tenant({"matchers": [{"name": "tenant", "value": "a", "isRegex": False,
    ...                               "isEqual": True}]})
    'a'
    """
    for matcher in silence["matchers"]:
        if matcher["name"] == "tenant" and matcher["isEqual"] and not matcher["isRegex"]:
            return str(matcher["value"])
    return None


def in_scope(silence: Silence) -> bool:
    """Whether the caller may see ``silence``: every one, or those of its tenants."""
    tenants = caller().tenants
    return tenants is None or silence_tenant(silence) in tenants


def require_in_scope(silence: Silence) -> None:
    """403 ``forbidden_tenant`` unless the caller may see and change ``silence``."""
    if not in_scope(silence):
        detail = (
            f"token {caller().id!r} acts for tenants {sorted(caller().tenants or ())}: a silence "
            'needs a matcher tenant="<one of them>"'
        )
        raise ApiError(403, "forbidden_tenant", detail)


def _now_ms() -> int:
    return int(time.time() * 1000)
