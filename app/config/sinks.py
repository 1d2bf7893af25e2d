"""Receivers as ready sinks: alertflow's one sink per receiver, Alertmanager's one per config.

An Alertmanager receiver with one integration config becomes one sink of its own name; one with
several becomes ``name/slack_configs[0]``, ``name/email_configs[0]``… and routes naming the
receiver notify all of them; one with none (a "null" receiver) notifies nobody. What a config
sets that alertflow's sinks do not do (Slack channel, Go message templates, ``http_config``…)
is reported once per receiver.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.config.problems import Problems
from app.config.receivers import (
    SINK_MODELS,
    SINK_TYPES,
    UNSUPPORTED_CONFIGS,
    AlertmanagerReceiver,
    Delivery,
    DiscordConfig,
    EmailConfig,
    PagerDutyConfig,
    SlackConfig,
    TeamsConfig,
    WebhookConfig,
    routing_key,
)
from app.config.spec import GlobalSpec
from app.links import DEFAULT_LIFETIME_S, LinkSigner
from app.settings import Settings
from app.sinks.base import Breaker, Receiver, RetryPolicy, Sink
from app.sinks.discord import DiscordSink
from app.sinks.mail import EmailSink
from app.sinks.pagerduty import EVENTS_URL, PagerDutySink
from app.sinks.slack import SlackSink
from app.sinks.teams import TeamsSink
from app.sinks.templates import MessageTemplates
from app.sinks.webhook import WebhookSink

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Alertmanager's send_resolved default per integration
SEND_RESOLVED = {
    "webhook_configs": True,
    "slack_configs": False,
    "pagerduty_configs": True,
    "email_configs": False,
    "msteams_configs": True,
    "msteamsv2_configs": True,
    "discord_configs": True,
}


@dataclass
class Receivers:
    """The sinks by name, and the sink names each receiver of the file stands for."""

    sinks: dict[str, Receiver] = field(default_factory=dict)
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, receiver: str, built: list[Receiver], path: str, problems: Problems) -> None:
        """Register ``receiver``'s sinks, unless a name is taken."""
        if receiver in self.names or any(r.name in self.sinks for r in built):
            problems.error(f"{path}.name", f"{receiver!r} is used twice")
            return
        self.names[receiver] = tuple(r.name for r in built)
        self.sinks.update({r.name: r for r in built})


def expand(value: Any, path: str, environ: Mapping[str, str], problems: Problems) -> Any:
    """``${VAR}`` replaced in every string, recursively; an unset variable is an error.

    >>> p = Problems()
    >>> expand({"url": "https://${HOST}/x", "to": ["${A}"]}, "r", {"HOST": "h", "A": "a@b"}, p)
    {'url': 'https://h/x', 'to': ['a@b']}
    >>> expand({"key": "${NOPE}"}, "receivers[0]", {}, p) and p.errors
    ['receivers[0].key: environment variable NOPE is not set']
    """
    if isinstance(value, str):

        def lookup(found: re.Match[str]) -> str:
            if found[1] not in environ:
                problems.error(path, f"environment variable {found[1]} is not set")
                return ""
            return environ[found[1]]

        return VARIABLE.sub(lookup, value)
    if isinstance(value, dict):
        return {k: expand(v, f"{path}.{k}", environ, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, f"{path}[{i}]", environ, problems) for i, v in enumerate(value)]
    return value


def build_receivers(
    specs: list[tuple[str, Delivery]],
    settings: Settings,
    global_: GlobalSpec,
    problems: Problems,
) -> Receivers:
    """Every receiver: ``ALERTFLOW_WEBHOOK_URL``'s first, then each ``(path, spec)``."""
    found = Receivers()
    if settings.webhook_url:
        sink = WebhookSink(settings.webhook_url, secret=settings.webhook_secret)
        signed = Receiver(sink, links=LinkSigner(settings.api_token, DEFAULT_LIFETIME_S))
        found.add(sink.name, [signed], "ALERTFLOW_WEBHOOK_URL", problems)
    for path, spec in specs:
        name = str(getattr(spec, "name", ""))
        if ":" in name:
            problems.error(f"{path}.name", f"{name!r}: alertflow's receiver names have no ':'")
            continue
        if name in found.names and name == "webhook" and settings.webhook_url:
            problems.error(f"{path}.name", f"{name!r} is taken by ALERTFLOW_WEBHOOK_URL's receiver")
            continue
        if isinstance(spec, AlertmanagerReceiver):
            built = _alertmanager(path, spec, global_, problems)
        else:
            built = _alertflow(path, spec, problems)
        found.add(name, [_deliver(r, spec, settings) for r in built], path, problems)
    return found


def _alertflow(path: str, spec: Delivery, problems: Problems) -> list[Receiver]:
    kind = next(k for k, model in SINK_MODELS.items() if isinstance(spec, model))
    values = {
        key: value for key, value in spec if key not in Delivery.model_fields and key != "type"
    }
    if isinstance(values.get("to"), str):
        values["to"] = (values["to"],)
    elif isinstance(values.get("to"), list):
        values["to"] = tuple(values["to"])
    try:
        sink: Sink = SINK_TYPES[kind](**values)
    except ValueError as exc:  # the sink's own check of its settings together: "<key>: <why>"
        key, _, why = str(exc).partition(": ")
        problems.error(f"{path}.{key}", why)
        return []
    resolved = True if spec.send_resolved is None else spec.send_resolved
    return [Receiver(sink, send_resolved=resolved)]


def _deliver(receiver: Receiver, spec: Delivery, settings: Settings) -> Receiver:
    """``receiver`` with the delivery options, templates and link signing of ``spec``."""
    receiver.retry = RetryPolicy(spec.attempts, spec.timeout, spec.backoff, spec.max_delay)
    receiver.rate, receiver.burst = spec.rate_limit.rate, spec.rate_limit.burst
    receiver.breaker = Breaker(spec.circuit_breaker.failures, spec.circuit_breaker.reset_after)
    receiver.links = LinkSigner(settings.api_token, spec.link_lifetime or DEFAULT_LIFETIME_S)
    receiver.templates = MessageTemplates(spec.title, spec.body)
    if isinstance(receiver.sink, SlackSink) and receiver.sink.buttons is None:
        interactive = settings.slack_signing_secret is not None  # the app's buttons answer
        receiver.sink = replace(receiver.sink, buttons=interactive)
    return receiver


def _alertmanager(
    path: str, spec: AlertmanagerReceiver, global_: GlobalSpec, problems: Problems
) -> list[Receiver]:
    configs = [(key, i, config) for key in BUILDERS for i, config in enumerate(getattr(spec, key))]
    built: list[Receiver] = []
    ignored: list[str] = []
    for key, i, config in configs:
        where = f"{path}.{key}[{i}]"
        sink = BUILDERS[key](where, config, global_, problems)
        ignored += [f"{key}[{i}].{extra}" for extra in sorted(config.model_extra or {})]
        if sink is None:
            continue
        name = spec.name if len(configs) == 1 else f"{spec.name}/{key}[{i}]"
        sink = _named(sink, name)
        resolved = config.send_resolved
        if resolved is None:
            resolved = SEND_RESOLVED[key] if spec.send_resolved is None else spec.send_resolved
        built.append(Receiver(sink, send_resolved=resolved))
    for key in UNSUPPORTED_CONFIGS:
        if (spec.model_extra or {}).get(key):
            problems.warn(
                f"{path}.{key}",
                f"alertflow has no such sink: receiver {spec.name!r} does not deliver there",
            )
    if ignored:
        problems.warn(
            path,
            f"receiver {spec.name!r}: not honoured: {', '.join(ignored)}; alertflow's own"
            " message is sent (its title/body templates can change it)",
        )
    if any(key == "webhook_configs" for key, _, _ in configs):
        problems.warn(
            path,
            f"receiver {spec.name!r}: webhook_configs receive alertflow's notification JSON"
            " (docs/configuration.md), not Alertmanager's webhook payload",
        )
    return built


def _named(sink: Sink, name: str) -> Sink:
    from dataclasses import replace

    return replace(sink, name=name)  # type: ignore[type-var]


def _secret(
    where: str, key: str, value: str | None, file: str | None, problems: Problems
) -> str | None:
    """``value``, or the content of ``file`` (Alertmanager's ``*_file`` keys)."""
    if value is not None or file is None:
        return value
    try:
        return Path(file).read_text().strip()
    except OSError as exc:
        problems.error(f"{where}.{key}_file", f"cannot read {file}: {exc.strerror}")
        return None


def _required_secret(
    where: str, key: str, value: str | None, file: str | None, problems: Problems, missing: str
) -> str | None:
    """:func:`_secret`, with the error ``missing`` at ``where.key`` when there is none."""
    secret = _secret(where, key, value, file, problems)
    if secret is None:
        problems.error(f"{where}.{key}", missing)
    return secret


def _webhook(where: str, c: WebhookConfig, g: GlobalSpec, problems: Problems) -> Sink | None:
    missing = "one of url or url_file is required"
    url = _required_secret(where, "url", c.url, c.url_file, problems, missing)
    return None if url is None else WebhookSink(url)


def _slack(where: str, c: SlackConfig, g: GlobalSpec, problems: Problems) -> Sink | None:
    url = _secret(where, "api_url", c.api_url, c.api_url_file, problems)
    url = url or _secret("global", "slack_api_url", g.slack_api_url, g.slack_api_url_file, problems)
    if url is None:
        problems.error(f"{where}.api_url", "no global Slack API URL set either inline or in a file")
        return None
    return SlackSink(url)


def _pagerduty(where: str, c: PagerDutyConfig, g: GlobalSpec, problems: Problems) -> Sink | None:
    if c.service_key or c.service_key_file:
        problems.error(
            f"{where}.service_key",
            "PagerDuty's Events API v1 (service_key) is not supported: use routing_key (v2)",
        )
        return None
    missing = "required (or routing_key_file)"
    key = _required_secret(
        where, "routing_key", c.routing_key, c.routing_key_file, problems, missing
    )
    if key is None:
        return None
    try:
        routing_key(key)
    except ValueError as exc:
        problems.error(f"{where}.routing_key_file", str(exc))
        return None
    return PagerDutySink(key, url=c.url or g.pagerduty_url or EVENTS_URL)


def _email(where: str, c: EmailConfig, g: GlobalSpec, problems: Problems) -> Sink | None:
    smarthost = c.smarthost or g.smtp_smarthost
    sender = c.from_ or g.smtp_from
    if not smarthost:
        problems.error(f"{where}.smarthost", "no global SMTP smarthost set")
    if not sender:
        problems.error(f"{where}.from", "no global SMTP from set")
    host, _, port = (smarthost or "").rpartition(":")
    if smarthost and (not host or not port.isdigit()):
        problems.error(f"{where}.smarthost", f"expected host:port, got {smarthost!r}")
        return None
    if not smarthost or not sender:
        return None
    if port == "465":
        problems.warn(
            f"{where}.smarthost",
            "port 465 (TLS from the first byte) is not supported by alertflow's e-mail sink,"
            " which uses STARTTLS: use port 587",
        )
    password = _secret(where, "auth_password", c.auth_password, c.auth_password_file, problems)
    if password is None and c.auth_password_file is None:
        password = _secret(
            "global",
            "smtp_auth_password",
            g.smtp_auth_password,
            g.smtp_auth_password_file,
            problems,
        )
    require_tls = c.require_tls if c.require_tls is not None else g.smtp_require_tls
    tls = c.tls_config or {}
    return EmailSink(
        host=host,
        sender=sender,
        to=tuple(a.strip() for a in c.to.split(",") if a.strip()),
        port=int(port),
        username=c.auth_username or g.smtp_auth_username,
        password=password,
        starttls=True if require_tls is None else require_tls,
        ca_file=tls.get("ca_file"),
    )


def _teams(where: str, c: TeamsConfig, g: GlobalSpec, problems: Problems) -> Sink | None:
    missing = "one of webhook_url or webhook_url_file is required"
    url = _required_secret(
        where, "webhook_url", c.webhook_url, c.webhook_url_file, problems, missing
    )
    return None if url is None else TeamsSink(url)


def _discord(where: str, c: DiscordConfig, g: GlobalSpec, problems: Problems) -> Sink | None:
    missing = "no discord webhook URL provided"
    url = _required_secret(
        where, "webhook_url", c.webhook_url, c.webhook_url_file, problems, missing
    )
    return None if url is None else DiscordSink(url)


BUILDERS: dict[str, Callable[[str, Any, GlobalSpec, Problems], Sink | None]] = {
    "webhook_configs": _webhook,
    "slack_configs": _slack,
    "pagerduty_configs": _pagerduty,
    "email_configs": _email,
    "msteams_configs": _teams,
    "msteamsv2_configs": _teams,
    "discord_configs": _discord,
}


def environ_of(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    """``environ``, or the process environment."""
    return os.environ if environ is None else environ
