"""aiohttp middleware: what the router itself refuses gets the contract's error shape too.

An unknown path (404), a method a view does not have (405) or any other refusal aiohttp raises
before a view runs would otherwise be answered in plain text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CODES = {404: "not_found", 405: "method_not_allowed"}


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer aiohttp's own 4xx refusals as ``{"error": code, "detail": text}``."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if not 400 <= exc.status < 500:
            raise
        code = _CODES.get(exc.status, exc.reason.lower().replace(" ", "_"))
        detail = f"{request.method} {request.path}: {exc.reason}"
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return web.Response(
            body=orjson.dumps({"error": code, "detail": detail}),
            status=exc.status,
            content_type="application/json",
            headers=headers,
        )
