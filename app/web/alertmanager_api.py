"""Alertmanager's API v2 (0.25) on alertflow's port: Prometheus, amtool and Grafana talk to it.

``POST /api/v2/alerts`` goes through the bridge like every source; ``GET /api/v2/alerts`` and
``/alerts/groups`` are built from the alert listing (``GET /api/v1/alerts``: every worker's
alerts) and the silences; silences are alertflow's own (``/api/v1/silences``, same topic).
Answers are Alertmanager's: 200 with its JSON shapes (an empty body where it sends none), and its
refusals (400, 404) have a JSON string as body, which is what its clients decode; alertflow's own
(401, 403, 413, 415, 503) keep the contract's error object. The shapes and
where alertflow differs: :mod:`app.alertmanager_api`, ``docs/alertmanager-api.md``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import wraps
from pathlib import Path
from typing import Any, cast

import yaml
from faust.web import Request, Response, View

from app.alertmanager_api.alerts import (
    AlertFilter,
    alert_groups,
    alert_status,
    gettable_alert,
    receiver_names,
    routes_of,
    sort_alerts,
)
from app.alertmanager_api.silences import SilenceNotFound, filtered, gettable_silence, set_silence
from app.alertmanager_api.status import original, receivers, status
from app.config import group_labels
from app.current_config import current
from app.faust_app import app
from app.matchers import Matcher, MatcherError, parse_matcher, regex
from app.records import utc_now
from app.silences import Silence, SilenceError, expire, silencing, state
from app.sources import SourceError
from app.web.alert_list import MAX_LIMIT, list_alerts
from app.web.http import (
    ApiError,
    acknowledged,
    answer,
    guarded,
    read_json,
    require_json_media_type,
    tenant_scope,
)
from app.web.ingest import accepted
from app.web.silences import in_scope, require_in_scope
from tables.silences import silences as silences_table

Handler = Callable[..., Awaitable[Response]]
STARTED = utc_now()  # Alertmanager's "uptime" is when it started
AM_STATUSES = (400, 404)  # the refusals of Alertmanager's API, answered its way
_TRUE = ("true", "1", "t", "yes", "y", "on")
_FALSE = ("false", "0", "f", "no", "n", "off")


def am_errors(handler: Handler) -> Handler:
    """The refusals Alertmanager's API defines (400, 404) as it answers them: the reason as a
    JSON string. Others (401, 403 of alertflow's tokens and tenants, 413, 415) keep alertflow's
    error shape."""

    @wraps(handler)
    async def am_handler(view: View, request: Request, **kwargs: Any) -> Response:
        try:
            return await handler(view, request, **kwargs)
        except (ApiError, SourceError) as exc:
            if exc.status not in AM_STATUSES:
                raise
            return answer(view, exc.detail, exc.status)

    return am_handler


@app.page("/api/v2/alerts")
class Alerts(View):
    """``POST``: Prometheus' alerts into the chain; ``GET``: the firing alerts."""

    @guarded("ingest")
    @am_errors
    async def post(self, request: Request) -> Response:
        """200 once every valid alert is in Kafka; 400 naming the invalid ones (the valid ones
        are accepted all the same, as Alertmanager does); 403 for another tenant's alert."""
        require_json_media_type(request)
        _, refused = await accepted(
            "alertmanager_v2", request, resolve_timeout_ms=current().resolve_timeout_ms
        )
        if refused:
            raise ApiError(400, "invalid_alerts", "; ".join(refused))
        return self.bytes(b"", status=200)

    @guarded("read")
    @am_errors
    async def get(self, request: Request) -> Response:
        """``gettableAlerts``, by fingerprint, of the tenants the caller may read."""
        keep = alert_filter(request.query)
        config = current()
        found = []
        for alert, alert_status_ in await _firing(request):
            names = [n for route in routes_of(config, alert) for n in receiver_names(config, route)]
            if keep.receiver is not None and not any(keep.receiver(n) for n in names):
                continue
            if keep.keeps(alert, alert_status_):
                found.append(gettable_alert(alert, names, alert_status_))
        return answer(self, sort_alerts(found))


@app.page("/api/v2/alerts/groups")
class AlertGroups(View):
    """``GET``: the firing alerts grouped as Alertmanager groups them (by incident here)."""

    @guarded("read")
    @am_errors
    async def get(self, request: Request) -> Response:
        """``alertGroups`` of the tenants the caller may read."""
        keep = alert_filter(request.query)
        incidents: dict[str, list[dict[str, Any]]] = {}
        statuses: dict[str, dict[str, Any]] = {}
        for alert, alert_status_ in await _firing(request):
            incidents.setdefault(alert.get("incident_id") or alert["id"], []).append(alert)
            statuses[alert["id"]] = alert_status_
        return answer(self, alert_groups(incidents, current(), statuses, keep))


@app.page("/api/v2/silences")
class Silences(View):
    """``GET``: the silences (``filter`` matchers); ``POST``: create or update one."""

    @guarded("read")
    @am_errors
    async def get(self, request: Request) -> Response:
        """``gettableSilences`` the caller may see, in Alertmanager's order."""
        filters = [_matcher(text) for text in _all(request.query, "filter")]
        visible = [s for s in _silences.values() if in_scope(s)]
        return answer(self, filtered(visible, filters, _now_ms()))

    @guarded("operate")
    @am_errors
    async def post(self, request: Request) -> Response:
        """200 ``{silenceID}`` once the silence (and the one it replaces) is in Kafka; a
        tenant-scoped caller's silence needs ``tenant="<one of its tenants>"``."""
        existing = dict(_silences.items())
        try:
            silence, replaced = set_silence(await read_json(request), existing, utc_now())
        except SilenceError as exc:
            raise ApiError(400, "invalid_silence", str(exc)) from None
        except SilenceNotFound as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        require_in_scope(silence)
        if replaced is not None:
            require_in_scope(replaced)
            await acknowledged(_write(replaced))
        await acknowledged(_write(silence))
        return answer(self, {"silenceID": silence["id"]})


@app.page("/api/v2/silence/{silence_id}")
class SilenceById(View):
    """``GET`` one silence; ``DELETE`` expires it."""

    @guarded("read")
    @am_errors
    async def get(self, request: Request, silence_id: str) -> Response:
        """``gettableSilence`` or 404."""
        return answer(self, gettable_silence(_silence(silence_id), _now_ms()))

    @guarded("operate")
    @am_errors
    async def delete(self, request: Request, silence_id: str) -> Response:
        """200 once expired (an expired silence stays listed, as expired); 404 if unknown."""
        silence = _silence(silence_id)
        if state(silence, _now_ms()) != "expired":  # expiring an expired one changes nothing
            await acknowledged(_write(expire(silence, utc_now())))
        return self.bytes(b"", status=200)


@app.page("/api/v2/status")
class Status(View):
    """``GET``: ``alertmanagerStatus``."""

    @guarded("read")
    @am_errors
    async def get(self, request: Request) -> Response:
        """The configuration (secrets masked), version, cluster and uptime."""
        files = [_document(os.environ.get(v)) for v in FILES]
        return answer(self, status(original(files[1], files[0]), STARTED))


@app.page("/api/v2/receivers")
class Receivers(View):
    """``GET``: the configured receivers."""

    @guarded("read")
    @am_errors
    async def get(self, request: Request) -> Response:
        """``[{name}]``."""
        return answer(self, receivers(current()))


FILES = ("ALERTFLOW_CONFIG", "ALERTFLOW_ALERTMANAGER_CONFIG")
_silences = cast("Mapping[str, Silence]", silences_table)  # silence id → silence, every worker


def alert_filter(query: Mapping[str, Any]) -> AlertFilter:
    """The filter of ``GET /api/v2/alerts`` (and ``groups``) from its query; 400 when bad.

    >>> from multidict import MultiDict
    >>> keep = alert_filter(MultiDict([("filter", "job=db"), ("silenced", "false"),
    ...                                ("receiver", "ops|db")]))
    >>> [str(m) for m in keep.matchers], keep.silenced, keep.receiver("db"), keep.receiver("o")
    (['job="db"'], False, True, False)
    >>> alert_filter({"active": "maybe"})
    Traceback (most recent call last):
    ...
    app.web.http.ApiError: active: expected true or false, got 'maybe'
    """
    getall = getattr(query, "getall", None)
    texts = (
        list(getall("filter", [])) if getall else ([query["filter"]] if "filter" in query else [])
    )
    matchers = tuple(_matcher(text) for text in texts)
    receiver = query.get("receiver")
    pattern = None
    if receiver:
        try:
            compiled = regex(receiver)
        except MatcherError as exc:
            raise ApiError(400, "invalid_query", f"failed to parse receiver param: {exc}") from None
        pattern = lambda name: compiled.search(name) is not None  # noqa: E731
    return AlertFilter(
        matchers=matchers,
        active=_flag(query, "active"),
        silenced=_flag(query, "silenced"),
        inhibited=_flag(query, "inhibited"),
        receiver=pattern,
    )


async def _firing(request: Request) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every worker's firing alerts (at most ``MAX_LIMIT``), each with its ``alertStatus`` now:
    silenced by the silences that mute it at this moment, as Alertmanager computes it."""
    query = {"status": "firing", "limit": str(MAX_LIMIT), "offset": "0"}
    tenants = tenant_scope(request)
    if tenants is not None and len(tenants) == 1:
        (query["tenant"],) = tenants  # the other workers filter too
    alerts = (await list_alerts(request, tenants, query))["alerts"]
    silences = list(_silences.values())
    now = _now_ms()
    return [
        (
            alert,
            alert_status(alert, [s["id"] for s in silencing(silences, group_labels(alert), now)]),
        )
        for alert in alerts
    ]


def _all(query: Mapping[str, Any], name: str) -> list[str]:
    """Every value of a repeated query parameter (``filter=a&filter=b``)."""
    getall = getattr(query, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    return [query[name]] if name in query else []


def _flag(query: Mapping[str, Any], name: str) -> bool:
    value = str(query.get(name, "true")).lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ApiError(400, "invalid_query", f"{name}: expected true or false, got {value!r}")


def _matcher(text: str) -> Matcher:
    try:
        return parse_matcher(text)
    except MatcherError as exc:
        raise ApiError(400, "invalid_query", str(exc)) from None


def _silence(silence_id: str) -> Silence:
    silence = _silences.get(silence_id)
    if silence is None:
        raise ApiError(404, "not_found", f"silence {silence_id} not found")
    require_in_scope(silence)
    return silence


async def _write(silence: Silence) -> None:
    """Put the silence on its compacted topic and wait for Kafka's acknowledgement."""
    await (await silences_table.changelog_topic.send(key=silence["id"], value=silence))


def _document(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        document = yaml.safe_load(Path(path).read_bytes())
    except (OSError, yaml.YAMLError):
        return None
    return document if isinstance(document, dict) else None


def _now_ms() -> int:
    return int(time.time() * 1000)
