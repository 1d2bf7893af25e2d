"""Requests for a key another worker owns are forwarded to it, body and all.

Faust's own ``@app.table_route`` forwards only method, headers and URL: a POST's JSON body
(``by``, ``actionable``, ``note``) would be lost on the way. This does the same routing with
the body, and hands back the owner's answer unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from typing import Any

import faust
from faust.web import Request, Response, View
from yarl import URL

from app.faust_app import app
from app.web.http import ApiError, answer

Handler = Callable[..., Awaitable[Response]]

_NOT_FORWARDED = frozenset({"host", "content-length", "transfer-encoding", "connection"})


async def partitions_known(table: faust.Table) -> None:
    """Wait until the producer knows the partitions of ``table``'s changelog.

    Faust finds a key's owner from the producer's metadata of that topic, which the producer
    fetches only once it writes there: a fresh worker asked first would fail (500) without it.
    """
    await app.producer._ensure_producer().partitions_for(table.changelog_topic.get_topic_name())


async def owner_of(table: faust.Table, key: str) -> URL | None:
    """The web URL of the worker that owns ``key`` of ``table``, or ``None`` when it is us."""
    await partitions_known(table)
    owner = URL(str(app.router.key_store(table.name, key)))
    here = URL(str(app.conf.canonical_url))
    return None if (owner.host, owner.port) == (here.host, here.port) else owner


def routed(table: faust.Table, match_info: str) -> Callable[[Handler], Handler]:
    """Serve the request here when this worker owns the key, else forward it to the owner."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def routed_handler(view: View, request: Request, **kwargs: Any) -> Response:
            try:
                owner = await owner_of(table, request.match_info[match_info])
            except KeyError:  # no partition assignment yet: a rebalance is under way
                detail = "partitions are being reassigned between workers; try again shortly"
                return answer(view, {"error": "rebalancing", "detail": detail}, 503)
            if owner is None:
                return await handler(view, request, **kwargs)
            return await forward(view, request, owner)

        return routed_handler

    return decorate


async def from_other_workers(
    request: Request,
    table_name: str,
    field: str,
    enough: int,
    *,
    path: str | None = None,
    query: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The first ``enough`` items of ``field`` in the answers of every other worker holding
    partitions of ``table_name`` to the same query (or to ``path`` with ``query``), asked
    with ``local=1``."""
    here = str(app.conf.canonical_url)
    others = [url for url in app.router.table_metadata(table_name) if url != here]
    headers = {"Authorization": request.headers.get("Authorization", "")}
    asked = request.query if query is None else query
    found: list[dict[str, Any]] = []
    for url in others:
        local = {**asked, "local": "1", "offset": "0", "limit": str(enough)}
        target = URL(url).with_path(path or request.path).with_query(local)
        async with app.http_client.get(target, headers=headers) as response:
            if response.status != 200:
                raise ApiError(503, "worker_unavailable", f"{url} answered {response.status}")
            found += (await response.json())[field]
    return found


async def forward(view: View, request: Request, owner: URL) -> Response:
    """Send the request, body and headers as they came, to ``owner``; answer what it answers."""
    target = request.url.with_host(owner.host or "").with_port(owner.port)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
    async with app.http_client.request(
        request.method, target, headers=headers, data=await request.read()
    ) as answer:
        return view.bytes(
            await answer.read(), content_type=answer.content_type, status=answer.status
        )
