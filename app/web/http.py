"""What every view shares: JSON answers, the error shape of CONTRACT.md, who the caller is
(:mod:`app.access`: token, role, tenants) and what it may do.

Every view declares what it needs with ``@guarded(need)`` — ``ingest``, ``read``, ``operate``,
``admin``, ``any`` (any valid token) or ``none`` (public); :func:`needs` lists them all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import replace
from functools import wraps
from typing import Any, TypeVar

import orjson
from aiohttp import web
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View

from app import health, metrics
from app.access import OPEN, Need, Principal, load_tokens
from app.faust_app import MAX_BODY_BYTES, settings
from app.records import canonical_time
from app.sources import SourceError
from app.sources.common import decode_json
from app.web.ingest_budget import RETRY_AFTER_SECONDS, BodyBudget, Overloaded

T = TypeVar("T")
Handler = Callable[..., Awaitable[Response]]
AuditHook = Callable[[Request, Principal, int], Awaitable[None]]
# What aiohttp decodes (with the body size limit applying to the decoded bytes); anything else
# would reach the handlers still encoded.
CONTENT_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate", "br", "zstd"})


TOKENS = load_tokens(settings.api_token)
ANONYMOUS = Principal("anonymous", "ingest", frozenset(), "open")  # a public view's caller
_caller: ContextVar[Principal] = ContextVar("caller", default=ANONYMOUS)
_audit_hooks: list[AuditHook] = []
_bodies = BodyBudget(settings.ingest_inflight_mb * 1024 * 1024)  # ingest bodies held at once


class ApiError(Exception):
    """An answer of 4xx with ``{"error": code, "detail": detail}``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def aiohttp_request(request: Request) -> web.Request:
    """The aiohttp request behind Faust's abstract one (Faust's web driver is aiohttp)."""
    if not isinstance(request, web.Request):
        raise TypeError(f"expected aiohttp's request, got {type(request).__name__}")
    return request


def answer(view: View, value: Any, status: int = 200) -> Response:
    """A JSON response (orjson)."""
    return view.bytes(orjson.dumps(value), content_type="application/json", status=status)


def guarded(
    need: Need = "admin", *, dsn: bool = False, link: bool = False
) -> Callable[[Handler], Handler]:
    """Let in callers whose token grants ``need`` (``dsn``: a Sentry DSN key too, which only
    ever ingests; ``link``: or a signed link, ``sig``/``exp`` in the query, which the view
    verifies); turn every refusal into the contract's error shape; audit state changes."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded_handler(view: View, request: Request, **kwargs: Any) -> Response:
            who = ANONYMOUS
            try:
                _require_known_encoding(request)
                if not (link and ("sig" in request.query or "exp" in request.query)):
                    who = authenticate(request, need, dsn=dsn)
                _caller.set(who)
                async with _room(request, need):
                    response = await handler(view, request, **kwargs)
            except (ApiError, SourceError) as exc:
                response = answer(view, {"error": exc.code, "detail": exc.detail}, exc.status)
            except Overloaded as exc:
                response = answer(view, {"error": "overloaded", "detail": str(exc)}, 503)
                response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            except web.HTTPRequestEntityTooLarge as exc:
                response = answer(view, {"error": "too_large", "detail": exc.text}, 413)
            except web.RequestPayloadError as exc:
                detail = f"the body does not decode as its Content-Encoding says: {exc}"
                response = answer(view, {"error": "invalid_encoding", "detail": detail}, 400)
            except (KafkaError, TimeoutError) as exc:
                detail = f"Kafka did not acknowledge the write, nothing was accepted: {exc!r}"
                response = answer(view, {"error": "broker_unavailable", "detail": detail}, 503)
            served = aiohttp_request(request)
            route = served.match_info.route.resource
            metrics.http_requests.labels(
                route.canonical if route else served.path, str(response.status)
            ).inc()
            for hook in _audit_hooks:
                await hook(request, _caller.get(), response.status)
            return response

        guarded_handler.needs = need  # type: ignore[attr-defined]
        return guarded_handler

    return decorate


def _room(request: Request, need: Need) -> AbstractAsyncContextManager[None]:
    """An ingest request's room in the budget of bodies held at once
    (:mod:`app.web.ingest_budget`), for as long as its handler runs; nothing for other views.
    A body is counted as declared, up to the largest allowed (a larger one is refused, 413)."""
    if need != "ingest":
        return nullcontext()
    size = aiohttp_request(request).content_length
    return _bodies.room_for(MAX_BODY_BYTES if size is None else min(size, MAX_BODY_BYTES))


def on_every_call(hook: AuditHook) -> AuditHook:
    """Register ``hook(request, caller, status)``, awaited after every guarded call."""
    _audit_hooks.append(hook)
    return hook


def needs(view: type[View], method: str) -> Need | None:
    """What ``method`` of ``view`` declared with :func:`guarded` (``None``: nothing)."""
    handler = getattr(view, method.lower(), None)
    while handler is not None and not hasattr(handler, "needs"):
        handler = getattr(handler, "__wrapped__", None)
    return getattr(handler, "needs", None)


def caller() -> Principal:
    """Who makes the request being handled."""
    return _caller.get()


def act_as(who: Principal) -> None:
    """Make ``who`` the caller of this request (a signed link stands in for a token)."""
    _caller.set(who)


def authenticate(request: Request, need: Need, *, dsn: bool = False) -> Principal:
    """The caller, or 401 (no valid token) / 403 (its role does not grant ``need``); the caller
    is known to the audit log even when refused."""
    offered, via = bearer_token(request), "bearer"
    if dsn and not offered:
        offered, via = _sentry_key(request), "dsn"
    if need == "none":
        return OPEN if TOKENS.open else (TOKENS.find(offered) or ANONYMOUS)
    if TOKENS.open:
        return OPEN
    who = TOKENS.find(offered)
    if who is None:
        raise ApiError(401, "unauthorized", "a valid Authorization: Bearer <token> is required")
    _caller.set(who)
    if not who.may(need):
        raise ApiError(
            403, "forbidden", f"token {who.id!r} has role {who.role}, which may not {need}"
        )
    if via == "dsn":  # a DSN key sits in every client's configuration: it only ingests
        who = replace(who, role="ingest", via="dsn")
    return who


async def acknowledged(write: Awaitable[T]) -> T:
    """Await a write to Kafka; 503 ``broker_unavailable`` as soon as the broker is known gone.

    Refused at once while :mod:`app.health` reports the broker unreachable, and abandoned
    within a probe round (about a second) when it becomes so during the write. No deadline
    while the broker answers: a large batch on a loaded machine may take long, and a broker that
    answers but cannot write fails the send itself (the producer's delivery timeout → 503).
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
    media_type = aiohttp_request(request).content_type
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", f"expected application/json, got {media_type}"
        )


def tenant_of(request: Request) -> str:
    """The tenant a request speaks for: ``?tenant=``, then ``X-Alertflow-Tenant``, then the
    caller's one tenant, then ``default``; 403 when the caller may not act for it."""
    who = caller()
    named = request.query.get("tenant") or header(request, "X-Alertflow-Tenant")
    if not named and who.tenants is not None and len(who.tenants) == 1:
        (named,) = who.tenants
    tenant = named or "default"
    require_tenant(tenant)
    return tenant


def tenant_scope(request: Request) -> frozenset[str] | None:
    """The tenants a listing may show: the one named (if the caller may), else the caller's
    (``None``: every tenant)."""
    named = request.query.get("tenant") or header(request, "X-Alertflow-Tenant")
    if named:
        require_tenant(named)
        return frozenset({named})
    return caller().tenants


def require_tenant(tenant: str) -> None:
    """403 ``forbidden_tenant`` unless the caller may act for ``tenant``."""
    if not caller().serves(tenant):
        raise forbidden_tenant(tenant)


def forbidden_tenant(tenant: str) -> ApiError:
    """403 ``forbidden_tenant``: the caller may not act for ``tenant``."""
    return ApiError(
        403, "forbidden_tenant", f"token {caller().id!r} may not act for tenant {tenant!r}"
    )


def query_time(text: str | None, name: str) -> str | None:
    """A query parameter's RFC 3339 time, normalised (``None`` when absent); 400 when it is not
    one (or out of range)."""
    if text is None:
        return None
    try:
        return canonical_time(text)
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_query", f"{name}: expected an RFC 3339 time") from None


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


def _sentry_key(request: Request) -> str:
    """The DSN public key an SDK sends (header ``X-Sentry-Auth`` or query ``sentry_key``)."""
    for part in header(request, "X-Sentry-Auth").removeprefix("Sentry ").split(","):
        name, _, value = part.strip().partition("=")
        if name == "sentry_key":
            return value
    return request.query.get("sentry_key", "")
