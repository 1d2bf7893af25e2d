"""What aiohttp itself refuses gets the contract's error shape too.

An unknown path (404), a method a view does not have (405) or any other refusal aiohttp raises
before a view runs would otherwise be answered in plain text: :func:`json_errors` (middleware).
A request the HTTP parser refuses — a body whose Content-Encoding does not decode, a malformed
header — never reaches the application: aiohttp answers it from
``RequestHandler.handle_error``, which :func:`_json_handle_error` wraps (importing this module
installs it) so its 4xx are JSON as well.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

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


_plain_handle_error = RequestHandler.handle_error


def _json_handle_error(
    self: RequestHandler,
    request: Any,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    response = _plain_handle_error(self, request, status, exc, message)
    if not 400 <= status < 500:
        return response
    detail = f"the HTTP request could not be read: {message or exc or 'bad request'}"
    refused = web.Response(
        body=orjson.dumps({"error": "bad_request", "detail": detail.strip()}),
        status=status,
        content_type="application/json",
    )
    refused.force_close()
    return refused


if not getattr(_plain_handle_error, "json", False):
    _json_handle_error.json = True  # type: ignore[attr-defined]
    RequestHandler.handle_error = _json_handle_error  # type: ignore[method-assign]
