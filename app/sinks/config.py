"""Receivers from the ``receivers:`` list of the ``ALERTFLOW_CONFIG`` file, as ready sinks.

Each item names a receiver, its ``type`` (one sink module each), the sink's settings (the
fields of its dataclass) and optional delivery settings. ``${VAR}`` in a string is replaced by
the environment variable ``VAR``, so secrets can stay out of the file. ``ALERTFLOW_WEBHOOK_URL``
adds the receiver ``webhook`` as before. Errors name the path at fault, e.g.
``receivers[1].url``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from app.links import DEFAULT_LIFETIME_S, LinkSigner
from app.settings import Settings, SettingsError
from app.sinks.base import Breaker, Receiver, RetryPolicy, Sink
from app.sinks.discord import DiscordSink
from app.sinks.mail import EmailSink
from app.sinks.pagerduty import PagerDutySink
from app.sinks.slack import SlackSink
from app.sinks.teams import TeamsSink
from app.sinks.webhook import WebhookSink

SINK_TYPES: dict[str, type] = {
    "webhook": WebhookSink,
    "slack": SlackSink,
    "teams": TeamsSink,
    "discord": DiscordSink,
    "pagerduty": PagerDutySink,
    "email": EmailSink,
}
ALIASES = {"from": "sender"}  # YAML keys that are Python keywords
DELIVERY_KEYS = (
    *("timeout", "attempts", "backoff", "max_delay", "rate_limit", "circuit_breaker"),
    "link_lifetime",  # seconds the signed Acknowledge/Resolve links stay valid (app.links)
)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # no ":" (the notification log's separator)
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ReceiverConfigError(SettingsError):
    """A receiver is misconfigured; the message starts with the path at fault."""


def load_receivers(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, Sink]:
    """Every configured receiver by name: ``ALERTFLOW_WEBHOOK_URL``'s, then the file's."""
    env = os.environ if environ is None else environ
    items: Any = []
    if path := env.get("ALERTFLOW_CONFIG"):
        document = yaml.safe_load(Path(path).read_text()) or {}  # load_settings checked it
        items = document.get("receivers") or []
    receivers: dict[str, Receiver] = {}
    if settings.webhook_url:
        sink = WebhookSink(settings.webhook_url, secret=settings.webhook_secret)
        receivers[sink.name] = Receiver(sink)
    for name, receiver in parse_receivers(items, env).items():
        if name in receivers:
            raise ReceiverConfigError(
                f"receivers: the name {name!r} is taken by ALERTFLOW_WEBHOOK_URL's receiver"
            )
        receivers[name] = receiver
    for receiver in receivers.values():  # links are signed with the API token, when one is set
        receiver.links = dataclasses.replace(receiver.links, token=settings.api_token)
    sinks: dict[str, Sink] = dict(receivers)
    return sinks


def parse_receivers(items: Any, environ: Mapping[str, str]) -> dict[str, Receiver]:
    """Validate the ``receivers:`` list and build each receiver.

    >>> r = parse_receivers([{"name": "ops", "type": "slack", "url": "${SLACK}",
    ...     "attempts": 6, "rate_limit": {"rate": 1, "burst": 5}}], {"SLACK": "https://h/s"})
    >>> r["ops"].sink, r["ops"].retry.attempts, r["ops"].rate, r["ops"].burst
    (SlackSink(url='https://h/s', name='ops'), 6, 1.0, 5.0)
    >>> parse_receivers([{"name": "pd", "type": "pagerduty"}], {})
    Traceback (most recent call last):
    ...
    app.sinks.config.ReceiverConfigError: receivers[0].routing_key: required for type pagerduty
    >>> parse_receivers([{"name": "m", "type": "email", "host": "h", "from": "a@b",
    ...     "to": "c@d", "port": "x"}], {})
    Traceback (most recent call last):
    ...
    app.sinks.config.ReceiverConfigError: receivers[0].port: expected a whole number, got 'x'
    """
    if not isinstance(items, list):
        raise ReceiverConfigError("receivers: expected a list of receivers")
    receivers: dict[str, Receiver] = {}
    for index, item in enumerate(items):
        path = f"receivers[{index}]"
        receiver = _receiver(path, _expand(path, item, environ))
        if receiver.name in receivers:
            raise ReceiverConfigError(f"{path}.name: {receiver.name!r} is used twice")
        receivers[receiver.name] = receiver
    return receivers


def _receiver(path: str, item: Any) -> Receiver:
    if not isinstance(item, dict):
        raise ReceiverConfigError(f"{path}: expected a mapping with name, type and settings")
    item = {ALIASES.get(str(key), str(key)): value for key, value in item.items()}
    name = item.pop("name", None)
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ReceiverConfigError(
            f"{path}.name: expected 1-64 letters, digits, '.', '_' or '-', got {name!r}"
        )
    kind = item.pop("type", None)
    if kind not in SINK_TYPES:
        raise ReceiverConfigError(f"{path}.type: expected one of {', '.join(SINK_TYPES)}")
    delivery = {key: item.pop(key) for key in DELIVERY_KEYS if key in item}
    sink = _sink(path, SINK_TYPES[kind], name, item)
    retry = RetryPolicy(
        attempts=_number(f"{path}.attempts", delivery.get("attempts", 4), whole=True, low=1),
        timeout=_number(f"{path}.timeout", delivery.get("timeout", 10.0)),
        base_delay=_number(f"{path}.backoff", delivery.get("backoff", 0.5)),
        max_delay=_number(f"{path}.max_delay", delivery.get("max_delay", 30.0)),
    )
    limit = _section(f"{path}.rate_limit", delivery.get("rate_limit"), ("rate", "burst"))
    breaker = _section(
        f"{path}.circuit_breaker", delivery.get("circuit_breaker"), ("failures", "reset_after")
    )
    lifetime = _number(f"{path}.link_lifetime", delivery.get("link_lifetime", DEFAULT_LIFETIME_S))
    return Receiver(
        sink,
        links=LinkSigner(None, lifetime),
        retry=retry,
        rate=_number(f"{path}.rate_limit.rate", limit["rate"]) if "rate" in limit else None,
        burst=_number(f"{path}.rate_limit.burst", limit.get("burst", 1), low=1),
        breaker=Breaker(
            failures=_number(
                f"{path}.circuit_breaker.failures", breaker.get("failures", 5), whole=True, low=1
            ),
            reset_after=_number(
                f"{path}.circuit_breaker.reset_after", breaker.get("reset_after", 30.0)
            ),
        ),
    )


def _sink(path: str, cls: type, name: str, settings: dict[str, Any]) -> Sink:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "name"}
    for key in settings:
        if key not in fields:
            known = ", ".join([*fields, *DELIVERY_KEYS])
            raise ReceiverConfigError(f"{path}.{key}: unknown setting (known: {known})")
    values: dict[str, Any] = {"name": name}
    for key, spec in fields.items():
        if key not in settings:
            if spec.default is dataclasses.MISSING:
                kind = next(k for k, c in SINK_TYPES.items() if c is cls)
                raise ReceiverConfigError(f"{path}.{key}: required for type {kind}")
            continue
        values[key] = _coerce(f"{path}.{key}", hints[key], settings[key])
    sink: Sink = cls(**values)
    return sink


def _coerce(path: str, hint: Any, value: Any) -> Any:
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    if value is None:
        if optional:
            return None
        raise ReceiverConfigError(f"{path}: must not be empty")
    base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    if base is bool:
        if not isinstance(value, bool):
            raise ReceiverConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if base is int:
        return _number(path, value, whole=True, low=1)
    if typing.get_origin(base) is tuple:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise ReceiverConfigError(f"{path}: expected a string or a non-empty list of strings")
        return tuple(items)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ReceiverConfigError(f"{path}: expected a string, got {value!r}")
    text = str(value)
    if path.endswith("url"):
        parsed = urlparse(text)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ReceiverConfigError(f"{path}: expected an http(s) URL, got {text!r}")
    return text


def _number(path: str, value: Any, *, whole: bool = False, low: float = 0.0) -> Any:
    """A number ≥ ``low`` (> 0 when ``low`` is 0), as int when ``whole`` else as float."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value)) if whole else float(value)
    except (TypeError, ValueError):
        kind = "a whole number" if whole else "a number of seconds (or per second)"
        raise ReceiverConfigError(f"{path}: expected {kind}, got {value!r}") from None
    if number < low or (low == 0 and number <= 0):
        raise ReceiverConfigError(f"{path}: must be {'at least ' + str(low) if low else '> 0'}")
    return number


def _section(path: str, value: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not set(value) <= set(keys):
        raise ReceiverConfigError(f"{path}: expected a mapping with {' and/or '.join(keys)}")
    return value


def _expand(path: str, value: Any, environ: Mapping[str, str]) -> Any:
    """``${VAR}`` replaced in every string, recursively.

    >>> _expand("r", {"url": "https://${HOST}/x", "to": ["${A}"]}, {"HOST": "h", "A": "a@b"})
    {'url': 'https://h/x', 'to': ['a@b']}
    >>> _expand("receivers[0]", {"key": "${NOPE}"}, {})
    Traceback (most recent call last):
    ...
    app.sinks.config.ReceiverConfigError: receivers[0].key: environment variable NOPE is not set
    """
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            if match[1] not in environ:
                raise ReceiverConfigError(f"{path}: environment variable {match[1]} is not set")
            return environ[match[1]]

        return VARIABLE.sub(lookup, value)
    if isinstance(value, dict):
        return {k: _expand(f"{path}.{k}", v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(f"{path}[{i}]", v, environ) for i, v in enumerate(value)]
    return value
