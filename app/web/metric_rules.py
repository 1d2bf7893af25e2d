"""``POST /api/v1/metrics`` and ``/api/v1/rules``: submit metric points, manage and test rules.

Points go to ``metrics.points`` keyed by series, timestamped at their event time; rules to the
compacted topic ``rules`` (a tombstone deletes one), which every worker's GlobalTable follows.
``POST /api/v1/rules/{id}/test`` runs the agent's own evaluation over the posted points.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from faust.web import Request, Response, View

from app import topics
from app.faust_app import app
from app.metric_rules.alerts import alert_labels
from app.metric_rules.evaluate import RuleState, replay
from app.metric_rules.points import PointError, parse_points, series_key
from app.metric_rules.rules import Rule, RuleError, parse_rule
from app.records import ms_time, parse_time, utc_now
from app.stages import send
from app.web.http import ApiError, answer, guarded, read_json, tenant_of
from tables.rules import rules as rules_table


@app.page("/api/v1/metrics")
class MetricPoints(View):
    """``POST`` one metric point or a list of them."""

    @guarded("ingest")
    async def post(self, request: Request) -> Response:
        """202 ``{"accepted": n, "series": m}`` once every point is in Kafka."""
        try:
            points = parse_points(
                await read_json(request), tenant=tenant_of(request), now_ms=_now_ms()
            )
        except PointError as exc:
            raise ApiError(400, "invalid_point", str(exc)) from None
        keys = [series_key(point) for point in points]
        await asyncio.gather(
            *(
                send(topics.metric_points, key, point, point["at_ms"])
                for key, point in zip(keys, points, strict=True)
            )
        )
        return answer(self, {"accepted": len(points), "series": len(set(keys))}, 202)


@app.page("/api/v1/rules")
class Rules(View):
    """``POST`` a new rule, ``GET`` them all (``?tenant=``)."""

    @guarded("admin")
    async def post(self, request: Request) -> Response:
        """202 with the rule once it is in Kafka; 409 when its ``id`` is taken."""
        rule = _parse(await read_json(request), None, request)
        if rules_table.get(rule["id"]) is not None:
            raise ApiError(409, "conflict", f"rule {rule['id']} exists: PUT /api/v1/rules/{{id}}")
        await _write(rule["id"], rule)
        return answer(self, rule, 202)

    @guarded("read")
    async def get(self, request: Request) -> Response:
        """Every rule (of ``?tenant=`` when given), by name."""
        tenant = request.query.get("tenant")
        found = [r for r in rules_table.values() if r and (tenant is None or r["tenant"] == tenant)]
        found.sort(key=lambda r: (r["tenant"], r["name"], r["id"]))
        return answer(self, {"rules": found})


@app.page("/api/v1/rules/{rule_id}")
class RuleView(View):
    """``GET``, ``PUT`` (create or replace) and ``DELETE`` one rule."""

    @guarded("read")
    async def get(self, request: Request, rule_id: str) -> Response:
        """The rule or 404."""
        return answer(self, _find(rule_id))

    @guarded("admin")
    async def put(self, request: Request, rule_id: str) -> Response:
        """202 with the rule once it is in Kafka."""
        rule = _parse(await read_json(request), rule_id, request)
        await _write(rule_id, rule)
        return answer(self, rule, 202)

    @guarded("admin")
    async def delete(self, request: Request, rule_id: str) -> Response:
        """202 once the tombstone is in Kafka; its firing alerts resolve."""
        _find(rule_id)
        await _write(rule_id, None)
        return answer(self, {"id": rule_id, "deleted": True}, 202)


@app.page("/api/v1/rules/{rule_id}/test")
class RuleTest(View):
    """``POST {points, until?, rule?}``: what the rule would fire and resolve, and when.

    Points are ``{value, timestamp, labels?, name?}`` (``name`` defaults to the rule's metric);
    ``rule`` tests a changed definition before it is saved. Nothing is written anywhere.
    """

    @guarded("operate")
    async def post(self, request: Request, rule_id: str) -> Response:
        """200 with the alerts the rule would send, oldest first."""
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("points"), list):
            raise ApiError(400, "invalid_body", "expected {points: [...], until?, rule?}")
        stored = _parse(body["rule"], rule_id, request) if "rule" in body else _find(rule_id)
        rule = Rule.of(stored)
        defaults = {"name": rule.metric, "tenant": rule.tenant}
        raw_points = [{**defaults, **p} if isinstance(p, dict) else p for p in body["points"]]
        try:
            points = parse_points(raw_points, tenant=rule.tenant, now_ms=_now_ms())
        except PointError as exc:
            raise ApiError(400, "invalid_point", str(exc)) from None
        until = _until(body.get("until"))
        events, open_series = replay({rule.id: rule}, points, until)
        return answer(
            self,
            {
                "rule": stored,
                "events": [_shown(rule, event) for event in events],
                "pending_or_firing": [
                    {"labels": s["labels"], **_times(s["rules"][rule.id])}
                    for s in open_series
                    if rule.id in s["rules"]
                ],
            },
        )


def _parse(body: Any, rule_id: str | None, request: Request) -> dict[str, Any]:
    try:
        return parse_rule(body, now=utc_now(), rule_id=rule_id, tenant=tenant_of(request))
    except RuleError as exc:
        raise ApiError(400, "invalid_rule", str(exc)) from None


def _find(rule_id: str) -> dict[str, Any]:
    rule = rules_table.get(rule_id)
    if not rule:
        raise ApiError(404, "not_found", f"no rule {rule_id}")
    return dict(rule)


async def _write(rule_id: str, rule: dict[str, Any] | None) -> None:
    await send(topics.rules, rule_id, rule, json_key=True)  # None: a tombstone, rule forgotten


def _shown(rule: Rule, event: dict[str, Any]) -> dict[str, Any]:
    """A test event with its times in RFC 3339 and the alert's labels."""
    return {
        "event": event["event"],
        "at": _time(event["at_ms"]),
        "starts_at": _time(event["starts_ms"]),
        "value": event["value"],
        "labels": alert_labels(rule, event["labels"]),
        "reason": event["reason"],
    }


def _times(state: RuleState) -> dict[str, Any]:
    return {
        "pending_since": _time(state["pending_ms"]),
        "firing_since": _time(state["firing_ms"]),
        "cooldown_until": _time(state["cooldown_until_ms"]),
    }


def _until(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(parse_time(str(value)).timestamp() * 1000)
    except ValueError:
        raise ApiError(400, "invalid_field", "until: expected an RFC 3339 time") from None


def _time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return ms_time(ms)


def _now_ms() -> int:
    return int(time.time() * 1000)
