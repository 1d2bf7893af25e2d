"""Metric points as submitted (``POST /api/v1/metrics``) and as written to ``metrics.points``.

A point is ``{name, value, labels?, timestamp?, tenant?}``; a body is one point or a non-empty
list of them. Its *series* is the tenant, the metric name and the label set: the key of
``metrics.points``, so every point of a series is evaluated, in order, by one worker.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

from app.records import epoch_ms

MAX_POINTS = 10_000
MAX_FUTURE_MS = 60_000  # a point from the future moves its partition's clock (and staleness) ahead
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_FIELDS = {"name", "value", "labels", "timestamp", "tenant"}


class PointError(ValueError):
    """A point is invalid; the message names the field at fault (``points[3].value: ...``)."""


class Point(TypedDict):
    """Value of ``metrics.points``."""

    tenant: str
    name: str
    value: float
    labels: dict[str, str]
    at_ms: int  # the point's event time (also the Kafka message's timestamp)


def parse_points(body: Any, *, tenant: str, now_ms: int) -> list[Point]:
    """Validate a body of one point or a list of them; an own ``tenant`` wins over ``tenant``.

    >>> parse_points({"name": "cpu", "value": 93, "labels": {"host": "a"}}, tenant="t",
    ...              now_ms=1000)
    [{'tenant': 't', 'name': 'cpu', 'value': 93.0, 'labels': {'host': 'a'}, 'at_ms': 1000}]
    >>> parse_points([{"name": "cpu", "value": "hot"}], tenant="t", now_ms=0)
    Traceback (most recent call last):
    ...
    app.metric_rules.points.PointError: points[0].value: expected a finite number, got 'hot'
    """
    points = body if isinstance(body, list) else [body]
    if not points:
        raise PointError("body: expected a point object or a non-empty list of them")
    if len(points) > MAX_POINTS:
        raise PointError(f"body: {len(points)} points, at most {MAX_POINTS}")
    paths = [f"points[{i}]" if points is body else "point" for i in range(len(points))]
    return [_point(item, path, tenant, now_ms) for item, path in zip(points, paths, strict=True)]


def series_key(point: Mapping[str, Any]) -> str:
    """The series of a point: tenant, metric name and sorted labels (the topic's key).

    >>> series_key({"tenant": "t", "name": "cpu", "labels": {"b": "2", "a": "x\\"y"}})
    't|cpu{a="x\\\\"y",b="2"}'
    """
    labels = ",".join(
        f"{name}={json.dumps(value)}" for name, value in sorted(point["labels"].items())
    )
    return f"{point['tenant']}|{point['name']}{{{labels}}}"


def _point(item: Any, path: str, tenant: str, now_ms: int) -> Point:
    if not isinstance(item, dict):
        raise PointError(f"{path}: expected an object {{name, value, labels?, timestamp?}}")
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        raise PointError(f"{path}.{unknown[0]}: unknown field")
    name = item.get("name")
    if not isinstance(name, str) or not METRIC_NAME.fullmatch(name):
        raise PointError(f"{path}.name: expected a metric name [a-zA-Z_:][a-zA-Z0-9_:]*")
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PointError(f"{path}.value: expected a finite number, got {value!r}")
    own_tenant = item.get("tenant", tenant)
    if not isinstance(own_tenant, str) or not own_tenant.strip():
        raise PointError(f"{path}.tenant: expected a non-empty string")
    return {
        "tenant": own_tenant,
        "name": name,
        "value": float(value),
        "labels": labels_of(item.get("labels"), f"{path}.labels"),
        "at_ms": _time(item.get("timestamp"), f"{path}.timestamp", now_ms),
    }


def labels_of(value: Any, path: str) -> dict[str, str]:
    """A label set: names ``[a-zA-Z_][a-zA-Z0-9_]*`` (not ``__…``, reserved), string values.

    >>> labels_of({"__name__": "x"}, "labels")
    Traceback (most recent call last):
    ...
    app.metric_rules.points.PointError: labels.__name__: names starting with __ are reserved
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PointError(f"{path}: expected an object of label names to strings")
    for name, text in value.items():
        if not LABEL_NAME.fullmatch(name):
            raise PointError(f"{path}.{name}: expected a label name [a-zA-Z_][a-zA-Z0-9_]*")
        if name.startswith("__"):
            raise PointError(f"{path}.{name}: names starting with __ are reserved")
        if not isinstance(text, str):
            raise PointError(f"{path}.{name}: expected a string")
    return dict(value)


def _time(value: Any, path: str, now_ms: int) -> int:
    """Epoch milliseconds of an RFC 3339 string or epoch seconds; ``now_ms`` when absent."""
    if value is None:
        return now_ms
    try:
        if isinstance(value, str):
            at = epoch_ms(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            at = int(datetime.fromtimestamp(value, UTC).timestamp() * 1000)
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise PointError(f"{path}: expected an RFC 3339 time or epoch seconds") from None
    if at > now_ms + MAX_FUTURE_MS:
        raise PointError(f"{path}: more than a minute in the future")
    return at


def point_of(value: Any) -> Point:
    """A ``metrics.points`` value checked (outside producers may write the topic too).

    >>> point_of({"tenant": "t", "name": "cpu", "value": 1, "labels": {}, "at_ms": 5})["value"]
    1.0
    >>> point_of({"name": "cpu"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    app.metric_rules.points.PointError: metrics.points: expected {tenant, name, value, labels,...
    """
    shape = "metrics.points: expected {tenant, name, value, labels, at_ms}"
    if not isinstance(value, dict) or set(value) != set(Point.__annotations__):
        raise PointError(shape)
    at_ms = value["at_ms"]
    if not isinstance(at_ms, int) or isinstance(at_ms, bool):
        raise PointError(f"{shape}: at_ms is not epoch milliseconds")
    checked = _point(
        {k: value[k] for k in ("tenant", "name", "value", "labels")}, "metrics.points", "", at_ms
    )
    return {**checked, "at_ms": at_ms}
