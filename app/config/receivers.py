"""Receivers in either form, as pydantic models: alertflow's ``{name, type, …}`` and
Alertmanager's ``{name, slack_configs: […], …}``, told apart by ``type``.

alertflow's form has one model per sink type, made from the sink's dataclass fields (so a new
sink setting needs no change here) plus the delivery options and the ``title``/``body``
templates. Alertmanager's form lists the integrations alertflow delivers to; the others are
accepted and reported as not delivered (:mod:`app.config.build` says so).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
    model_validator,
)

from app.actions.config import action_model
from app.actions.sink import ActionSink
from app.config.fields import Flag, HttpUrl, PositiveInt, Seconds
from app.sinks.discord import DiscordSink
from app.sinks.mail import EmailSink
from app.sinks.pagerduty import PagerDutySink
from app.sinks.slack import SlackSink
from app.sinks.teams import TeamsSink
from app.sinks.templates import TemplateError, compile_template
from app.sinks.webhook import WebhookSink

SINK_TYPES: dict[str, type] = {
    "webhook": WebhookSink,
    "slack": SlackSink,
    "teams": TeamsSink,
    "discord": DiscordSink,
    "pagerduty": PagerDutySink,
    "email": EmailSink,
}
ALIASES = {"sender": "from"}  # sink fields whose YAML key is a Python keyword
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # no ":" (the notification log's separator)
ROUTING_KEY_LENGTH = 32  # PagerDuty's Events API v2 integration keys
# Alertmanager integrations alertflow has no sink for: accepted, reported as not delivered.
UNSUPPORTED_CONFIGS = (
    *("opsgenie_configs", "pushover_configs", "sns_configs", "telegram_configs"),
    *("victorops_configs", "webex_configs", "wechat_configs"),
)


def _template(source: str) -> str:
    try:
        compile_template(source)
    except TemplateError as exc:
        raise ValueError(f"template does not compile: {exc}") from None
    return source


def routing_key(value: str) -> str:
    """A PagerDuty Events API v2 routing key: 32 letters and digits.

    >>> routing_key("short")
    Traceback (most recent call last):
    ...
    ValueError: a PagerDuty routing key has 32 characters (letters and digits), got 5
    """
    if len(value) != ROUTING_KEY_LENGTH or not value.isascii() or not value.isalnum():
        raise ValueError(
            f"a PagerDuty routing key has {ROUTING_KEY_LENGTH} characters (letters and digits),"
            f" got {len(value)}"
        )
    return value


Template = Annotated[str, AfterValidator(_template)]
RoutingKey = Annotated[str, AfterValidator(routing_key)]


class RateLimit(BaseModel):
    """Sends per second and the burst allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rate: Seconds | None = None
    burst: Annotated[float, Field(ge=1)] = 1.0


class CircuitBreaker(BaseModel):
    """Consecutive failures that open the circuit, and seconds before it is tried again."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    failures: PositiveInt = 5
    reset_after: Seconds = 30.0


class Delivery(BaseModel):
    """Options of every receiver, in either form (alertflow's additions)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    timeout: Seconds = 10.0
    attempts: PositiveInt = 4
    backoff: Seconds = 0.5
    max_delay: Seconds = 30.0
    rate_limit: RateLimit = RateLimit()
    circuit_breaker: CircuitBreaker = CircuitBreaker()
    link_lifetime: Seconds | None = Field(
        default=None, description="seconds signed links stay valid"
    )
    send_resolved: Flag | None = None
    title: Template | None = Field(
        default=None, description="Jinja2 template of the message's title"
    )
    body: Template | None = Field(default=None, description="Jinja2 template of the message's body")


def _sink_model(kind: str, cls: type) -> type[Delivery]:
    """The model of alertflow's receiver ``type: kind``: ``name`` and the sink's fields."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {
        "name": (Annotated[str, Field(pattern=NAME_PATTERN)], ...),
        "type": (Literal[kind], ...),
    }
    for spec in dataclasses.fields(cls):
        if spec.name == "name":
            continue
        hint: Any = hints[spec.name]
        if spec.name.endswith("url"):
            hint = HttpUrl
        elif spec.name == "routing_key":
            hint = RoutingKey
        elif hint is bool:
            hint = Flag
        elif hint is int:
            hint = PositiveInt
        elif typing.get_origin(hint) is tuple:
            hint = Annotated[list[str], Field(min_length=1)] | str
        default = ... if spec.default is dataclasses.MISSING else spec.default
        fields[spec.name] = (hint, Field(default, alias=ALIASES.get(spec.name, spec.name)))
    return cast(
        type[Delivery], create_model(f"{kind.capitalize()}Receiver", __base__=Delivery, **fields)
    )


SINK_MODELS: dict[str, type[BaseModel]] = {
    kind: _sink_model(kind, cls) for kind, cls in SINK_TYPES.items()
}
SINK_MODELS["action"] = action_model(Delivery, NAME_PATTERN)  # remediation: nested settings
SINK_TYPES["action"] = ActionSink
_ALERTFLOW_RECEIVER: Any = Annotated[
    typing.Union[  # noqa: UP007 (a union of types made at run time)
        tuple(Annotated[m, Tag(f"type={k}")] for k, m in SINK_MODELS.items())
    ],
    Discriminator(lambda item: f"type={item.get('type')}" if isinstance(item, dict) else None),
]


class AMConfig(BaseModel):
    """Fields shared by Alertmanager's integration configs (``*_configs`` items)."""

    model_config = ConfigDict(extra="allow", frozen=True)  # the rest: reported, not honoured
    send_resolved: Flag | None = None


class WebhookConfig(AMConfig):
    url: HttpUrl | None = None
    url_file: str | None = None


class SlackConfig(AMConfig):
    api_url: HttpUrl | None = None
    api_url_file: str | None = None


class PagerDutyConfig(AMConfig):
    routing_key: RoutingKey | None = None
    routing_key_file: str | None = None
    service_key: str | None = None
    service_key_file: str | None = None
    url: HttpUrl | None = None


class EmailConfig(AMConfig):
    to: str = Field(min_length=1, description="comma-separated addresses")
    from_: str | None = Field(default=None, alias="from")
    smarthost: str | None = None
    auth_username: str | None = None
    auth_password: str | None = None
    auth_password_file: str | None = None
    require_tls: Flag | None = None
    tls_config: dict[str, Any] | None = None


class TeamsConfig(AMConfig):
    webhook_url: HttpUrl | None = None
    webhook_url_file: str | None = None


class DiscordConfig(AMConfig):
    webhook_url: HttpUrl | None = None
    webhook_url_file: str | None = None


def _alertmanager_schema(schema: dict[str, Any]) -> None:
    """In the JSON schema: the unsupported integrations by name, nothing else, and no ``type``."""
    for key in UNSUPPORTED_CONFIGS:
        schema["properties"][key] = {"type": "array", "items": {"type": "object"}}
    schema["additionalProperties"] = False
    schema["not"] = {"required": ["type"]}


class AlertmanagerReceiver(Delivery):
    """Alertmanager's receiver; delivery options and templates are alertflow's additions."""

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        populate_by_name=True,
        json_schema_extra=_alertmanager_schema,
    )
    name: str = Field(min_length=1)
    webhook_configs: list[WebhookConfig] = []
    slack_configs: list[SlackConfig] = []
    pagerduty_configs: list[PagerDutyConfig] = []
    email_configs: list[EmailConfig] = []
    msteams_configs: list[TeamsConfig] = []
    msteamsv2_configs: list[TeamsConfig] = []
    discord_configs: list[DiscordConfig] = []

    @model_validator(mode="after")
    def _known_extras(self) -> AlertmanagerReceiver:
        unknown = sorted(set(self.model_extra or {}) - set(UNSUPPORTED_CONFIGS))
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}")
        return self


_RECEIVER: Any = Annotated[
    Annotated[_ALERTFLOW_RECEIVER, Tag("kind=alertflow")]
    | Annotated[AlertmanagerReceiver, Tag("kind=alertmanager")],
    Discriminator(
        lambda item: (
            "kind=alertflow" if isinstance(item, dict) and "type" in item else "kind=alertmanager"
        )
    ),
]
if typing.TYPE_CHECKING:
    ReceiverSpec = Delivery  # what the type checker sees of the union below
else:
    ReceiverSpec = _RECEIVER
"""A receiver: alertflow's form when it has ``type``, else Alertmanager's."""
