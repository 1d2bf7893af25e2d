"""Which worker answers for a key, and how a request gets there, body and all.

Every table row lives in the partition ``partition_of(key)`` gives its key (the runtime writes
it there), so the owner of a key is the worker Faust assigned that partition of the table's
changelog (``app.router.table_metadata``: worker URL → partitions). Faust's own
``@app.table_route`` forwards only method, headers and URL (a POST's JSON body would be lost)
and computes partitions with Kafka's murmur2, not alertflow's crc32: this module does both.

Rows that cannot be found by their key's partition — an alert's member row lives in its
incident's partition — are looked for on every worker (:func:`workers`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from typing import Any, Protocol

import aiohttp
from faust.web import Request, Response, View
from yarl import URL

from app.faust_app import app
from app.runtime.partitions import partition_of
from app.web.http import ApiError, answer

Handler = Callable[..., Awaitable[Response]]

_NOT_FORWARDED = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class Named(Protocol):
    """A table: anything with the name Faust knows it by and its partition count."""

    @property
    def name(self) -> str: ...

    @property
    def partitions(self) -> int: ...


class Rebalancing(KeyError):
    """No worker owns the partition right now: the workers are rebalancing."""


def owner_of(table: Named, key: str) -> URL | None:
    """The web URL of the worker that owns ``key`` of ``table``, or ``None`` when it is us."""
    partition = partition_of(key, table.partitions)
    for url, assigned in app.router.table_metadata(table.name).items():
        if any(partition in partitions for partitions in assigned.values()):
            return None if _is_here(URL(url)) else URL(url)
    raise Rebalancing(f"no worker owns partition {partition} of {table.name}")


def workers(table: Named) -> list[URL]:
    """Every other worker that holds partitions of ``table``."""
    found = [URL(url) for url in app.router.table_metadata(table.name)]
    return [url for url in found if not _is_here(url)]


def routed(table: Named, key: str | Callable[[Request], str]) -> Callable[[Handler], Handler]:
    """Serve the request here when this worker owns the key, else forward it to the owner;
    ``key`` names the part of the URL that is the key, or gives the key of a request."""
    key_of = key if callable(key) else lambda request: request.match_info[key]

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def routed_handler(view: View, request: Request, **kwargs: Any) -> Response:
            try:
                owner = owner_of(table, key_of(request))
            except (Rebalancing, KeyError):
                return rebalancing(view)
            if owner is None:
                return await handler(view, request, **kwargs)
            return await forward(view, request, owner)

        return routed_handler

    return decorate


async def from_other_workers(
    request: Request,
    table: Named,
    field: str,
    enough: int,
    *,
    path: str | None = None,
    query: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The first ``enough`` items of ``field`` in the answers of every other worker holding
    partitions of ``table`` to the same query (or to ``path`` with ``query``), asked with
    ``local=1`` (a listing's merge)."""
    asked = request.query if query is None else query
    local = {**asked, "local": "1", "offset": "0", "limit": str(enough)}
    found: list[dict[str, Any]] = []
    for status, body in await ask_all(workers(table), request, path or request.url.path, local):
        if status != 200:
            raise ApiError(503, "worker_unavailable", f"another worker answered {status}")
        found += body[field]
    return found


def rebalancing(view: View) -> Response:
    """The answer while partitions move between workers."""
    detail = "partitions are being reassigned between workers; try again shortly"
    return answer(view, {"error": "rebalancing", "detail": detail}, 503)


async def forward(view: View, request: Request, owner: URL) -> Response:
    """The owner's answer to the same request (method, headers, body)."""
    target = request.url.with_host(owner.host or "").with_port(owner.port)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
    async with app.http_client.request(
        request.method, target, headers=headers, data=await request.read()
    ) as found:
        return view.bytes(await found.read(), content_type=found.content_type, status=found.status)


async def ask_all(
    urls: list[URL], request: Request, path: str, query: Mapping[str, str]
) -> list[tuple[int, Any]]:
    """``GET path?query`` on each of ``urls`` at once, with the request's credentials:
    each answer's status and JSON body (``None`` when it had none)."""
    headers = {"Authorization": request.headers.get("Authorization", "")}

    async def ask(url: URL) -> tuple[int, Any]:
        target = url.with_path(path).with_query(dict(query))
        try:
            async with app.http_client.get(target, headers=headers) as found:
                body = await found.json() if found.content_type == "application/json" else None
                return found.status, body
        except (aiohttp.ClientError, TimeoutError):  # a worker going away: as unavailable
            return 503, None

    return list(await asyncio.gather(*(ask(url) for url in urls)))


def _is_here(url: URL) -> bool:
    here = URL(str(app.conf.canonical_url))
    return (url.host, url.port) == (here.host, here.port)
