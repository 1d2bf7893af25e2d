"""What every view shares: JSON answers, the error shape of CONTRACT.md, and authentication."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, Literal, TypeVar

import orjson
from aiohttp import web
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from app import health, metrics
from app.faust_app import settings
from app.sources import SourceError
from app.sources.common import decode_json

T = TypeVar("T")
Auth = Literal["bearer", "sentry", "none"]
Handler = Callable[..., Awaitable[Response]]
# What aiohttp decodes (with the body size limit applying to the decoded bytes); anything else
# would reach the handlers still encoded.
CONTENT_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate", "br", "zstd"})


class ApiError(Exception):
    """An answer of 4xx with ``{"error": code, "detail": detail}``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def answer(view: View, value: Any, status: int = 200) -> Response:
    """A JSON response (orjson)."""
    return view.bytes(orjson.dumps(value), content_type="application/json", status=status)


def guarded(auth: Auth = "bearer") -> Callable[[Handler], Handler]:
    """Check the caller's credentials and turn every refusal into the contract's error shape."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded_handler(view: View, request: Request, **kwargs: Any) -> Response:
            try:
                _require_known_encoding(request)
                _authenticate(request, auth)
                response = await handler(view, request, **kwargs)
            except (ApiError, SourceError) as exc:
                response = answer(view, {"error": exc.code, "detail": exc.detail}, exc.status)
            except web.HTTPRequestEntityTooLarge as exc:
                response = answer(view, {"error": "too_large", "detail": exc.text}, 413)
            except web.RequestPayloadError as exc:
                detail = f"the body does not decode as its Content-Encoding says: {exc}"
                response = answer(view, {"error": "invalid_encoding", "detail": detail}, 400)
            except (KafkaError, TimeoutError) as exc:
                detail = f"Kafka did not acknowledge the write, nothing was accepted: {exc!r}"
                response = answer(view, {"error": "broker_unavailable", "detail": detail}, 503)
            route = request.match_info.route.resource
            metrics.http_requests.labels(
                route.canonical if route else request.path, str(response.status)
            ).inc()
            return response

        return guarded_handler

    return decorate


async def acknowledged(write: Awaitable[T]) -> T:
    """Await a write to Kafka; 503 ``broker_unavailable`` as soon as the broker is known gone.

    Refused at once while :mod:`app.health` reports the broker unreachable, and abandoned
    within a probe round (about a second) when it becomes so during the write. No deadline
    while the broker answers: a large batch on a loaded machine may take long, and a broker that
    answers but cannot write fails the send itself (aiokafka's request timeout → 503).
    An abandoned write may still reach Kafka when the broker returns: a client retrying after
    the 503 gets the same alert ids, and deduplication merges the copies (never lost).
    """
    task = asyncio.ensure_future(write)
    while not (gone := health.fault(health.BROKER)):
        done, _ = await asyncio.wait({task}, timeout=0.1)
        if done:
            return task.result()
    task.cancel()
    raise ApiError(503, "broker_unavailable", f"nothing was accepted: {gone}")


async def read_json(request: Request, *, optional: bool = False) -> Any:
    """The request's JSON body; 415 for another media type, 400 for bad JSON."""
    body = await request.read()
    if optional and not body:
        return {}
    require_json_media_type(request)
    return decode_json(body, "the body")


def require_json_media_type(request: Request) -> None:
    """Refuse a body that does not say it is JSON."""
    media_type = request.content_type
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", f"expected application/json, got {media_type}"
        )


def tenant_of(request: Request) -> str:
    """The tenant a request speaks for: ``?tenant=``, then ``X-Alertflow-Tenant``, then default."""
    return request.query.get("tenant") or header(request, "X-Alertflow-Tenant") or "default"


def header(request: Request, name: str) -> str:
    """The value of header ``name`` (``""`` when absent); 400 when it is not UTF-8 text.

    aiohttp keeps undecodable header bytes as lone surrogates, which no encoder, comparison
    of secrets or JSON writer accepts: refuse them here, where the header is read.
    """
    value = request.headers.get(name, "")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ApiError(400, "invalid_header", f"{name}: not UTF-8 text") from None
    return value


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>`` (``""`` without one)."""
    return header(request, "Authorization").removeprefix("Bearer ").strip()


def _require_known_encoding(request: Request) -> None:
    encoding = header(request, "Content-Encoding").strip().lower()
    if encoding not in CONTENT_ENCODINGS:
        detail = f"Content-Encoding {encoding!r}: use gzip, deflate, br or zstd, or none"
        raise ApiError(415, "unsupported_encoding", detail)


def _authenticate(request: Request, auth: Auth) -> None:
    token = settings.api_token
    if token is None or auth == "none":
        return
    offered = bearer_token(request)
    if auth == "sentry" and not offered:
        offered = _sentry_key(request)
    if not hmac.compare_digest(offered.encode(), token.encode()):
        raise ApiError(401, "unauthorized", "a valid Authorization: Bearer <token> is required")


def _sentry_key(request: Request) -> str:
    """The DSN public key an SDK sends (header ``X-Sentry-Auth`` or query ``sentry_key``)."""
    for part in header(request, "X-Sentry-Auth").removeprefix("Sentry ").split(","):
        name, _, value = part.strip().partition("=")
        if name == "sentry_key":
            return value
    return request.query.get("sentry_key", "")
