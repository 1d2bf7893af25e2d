"""The configuration file as pydantic models: its shape, field checks and JSON schema.

One model reads both files: alertflow's own (``ALERTFLOW_CONFIG``) and an Alertmanager
``alertmanager.yml`` (``ALERTFLOW_ALERTMANAGER_CONFIG``), since alertflow's file takes the same
sections and an Alertmanager file may carry alertflow's additions. Field checks live here;
what needs the whole file (references, inheritance, defaults) is :mod:`app.config.build`'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.access import TokenSpec
from app.config.fields import (
    Duration,
    DurationOrZero,
    Flag,
    Fraction,
    HttpUrl,
    LabelName,
    Matchers,
    PositiveInt,
    Regex,
)
from app.config.receivers import ReceiverSpec
from app.config.time_intervals import NamedTimeInterval


class Spec(BaseModel):
    """Unknown keys are errors (as in Alertmanager); the input is kept as written."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RouteSpec(Spec):
    """A node of the routing tree: Alertmanager's keys and alertflow's additions."""

    name: str | None = Field(default=None, description="alertflow: the route's name in reasons")
    receiver: str | None = None
    receivers: list[str] | None = Field(default=None, description="alertflow: several receivers")
    matchers: list[Matchers] = []
    match: dict[LabelName, str] = Field(
        default={}, description="deprecated in Alertmanager: matchers"
    )
    match_re: dict[LabelName, Regex] = Field(default={}, description="deprecated: matchers with =~")
    continue_: Flag = Field(default=False, alias="continue")
    group_by: list[str] | None = None
    group_wait: DurationOrZero | None = None
    group_interval: DurationOrZero | None = None
    repeat_interval: DurationOrZero | None = None
    mute_time_intervals: list[str] = []
    active_time_intervals: list[str] = []
    group_gap: Duration | None = Field(
        default=None, description="alertflow: gap that ends an incident"
    )
    max_duration: Duration | None = Field(
        default=None, description="alertflow: an incident's longest"
    )
    min_alerts: PositiveInt | None = None
    min_distinct_alerts: PositiveInt | None = None
    send_resolved_when_muted: Flag | None = None
    escalation: str | None = Field(
        default=None, description="alertflow: an escalation policy's name"
    )
    notify_threshold: Fraction | None = None
    digest_threshold: Fraction | None = None
    routes: list[RouteSpec] = []

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, names: list[str] | None) -> list[str] | None:
        if names and "..." in names and len(names) > 1:
            raise ValueError("'...' cannot be combined with other labels")
        if names and len(set(names)) != len(names):
            raise ValueError("a label is listed twice")
        return names

    @model_validator(mode="after")
    def _one_receiver_key(self) -> RouteSpec:
        if self.receiver is not None and self.receivers is not None:
            raise ValueError("give either receiver or receivers")
        return self


class InhibitRuleSpec(Spec):
    """Alertmanager's inhibit rule, old (``source_match``…) and new (``source_matchers``) keys."""

    source_match: dict[LabelName, str] = {}
    source_match_re: dict[LabelName, Regex] = {}
    source_matchers: list[Matchers] = []
    target_match: dict[LabelName, str] = {}
    target_match_re: dict[LabelName, Regex] = {}
    target_matchers: list[Matchers] = []
    equal: list[LabelName] = []


class LevelSpec(Spec):
    """Who is told, and how long after the first page."""

    after: Duration
    receivers: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class EscalationSpec(Spec):
    """An escalation policy: levels in order of ``after``."""

    name: str = Field(min_length=1)
    levels: Annotated[list[LevelSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _in_order(self) -> EscalationSpec:
        afters = [level.after for level in self.levels]
        if afters != sorted(afters):
            raise ValueError("levels: expected in order of 'after'")
        return self


class DedupPolicySpec(Spec):
    """How one source's alerts are deduplicated (``agents.dedup``)."""

    flap_changes: PositiveInt | None = None
    flap_window: Duration | None = None
    settle: Duration | None = None
    expire_after: Duration | None = None
    merge_episodes: Flag | None = None
    resolve_timeout: DurationOrZero | None = Field(
        default=None, description="a firing episode not sent again for this long resolves; 0: never"
    )


class DedupSpec(Spec):
    """Per-source policies; ``default`` applies to every source first."""

    default: DedupPolicySpec = DedupPolicySpec()
    alertmanager: DedupPolicySpec = DedupPolicySpec()
    sentry: DedupPolicySpec = DedupPolicySpec()
    api: DedupPolicySpec = DedupPolicySpec()


class NotifySpec(Spec):
    """The notify stage's options."""

    tick_interval: DurationOrZero | None = Field(default=None, description="0: no ticks")
    resend_after: Duration | None = None
    max_in_flight: PositiveInt | None = None
    reload_interval: Duration | None = None


class HttpConfigSpec(Spec):
    """Alertmanager's ``http_config`` (accepted; alertflow's sinks use their own client)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class GlobalSpec(Spec):
    """Alertmanager's ``global:`` defaults."""

    model_config = ConfigDict(extra="allow", frozen=True)  # other integrations: warned about
    resolve_timeout: Duration | None = None
    http_config: HttpConfigSpec | None = None
    smtp_from: str | None = None
    smtp_hello: str | None = None
    smtp_smarthost: str | None = None
    smtp_auth_username: str | None = None
    smtp_auth_password: str | None = None
    smtp_auth_password_file: str | None = None
    smtp_auth_identity: str | None = None
    smtp_auth_secret: str | None = None
    smtp_require_tls: Flag | None = None
    slack_api_url: HttpUrl | None = None
    slack_api_url_file: str | None = None
    pagerduty_url: HttpUrl | None = None


class HeartbeatSpec(Spec):
    """A dead-man switch (:mod:`app.heartbeats`): pages when its pings stop."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="used in its URL")
    interval: Duration = Field(description="a ping is expected at least this often")
    grace: DurationOrZero | None = Field(
        default=None, description="extra wait before it pages (default: one interval)"
    )
    matchers: list[Matchers] = Field(default=[], description="alerts consumed as its pings")
    labels: dict[LabelName, str] = Field(default={}, description="of the page: route it")
    annotations: dict[LabelName, str] = {}
    tenant: str = Field(default="default", min_length=1, description="of the page")


class FileSpec(Spec):
    """One configuration file: alertflow's sections and Alertmanager's."""

    model_config = ConfigDict(extra="allow", frozen=True)  # settings: checked by app.settings
    routes: RouteSpec | None = Field(
        default=None, description="alertflow's routing tree (root route)"
    )
    route: RouteSpec | None = Field(default=None, description="Alertmanager's routing tree")
    receivers: list[ReceiverSpec] = []
    inhibit_rules: list[InhibitRuleSpec] = []
    time_intervals: list[NamedTimeInterval] = []
    mute_time_intervals: list[NamedTimeInterval] = Field(default=[], description="old name")
    templates: list[str] = []
    global_: GlobalSpec | None = Field(default=None, alias="global")
    escalation_policies: list[EscalationSpec] = []
    heartbeats: list[HeartbeatSpec] = []
    dedup: DedupSpec | None = None
    notify: NotifySpec | None = None
    tokens: list[TokenSpec] = Field(default=[], description="API tokens (app.access)")

    @model_validator(mode="before")
    @classmethod
    def _one_tree(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("route") is not None and "routes" in data:
            raise ValueError("give the routing tree once: 'route' (Alertmanager) or 'routes'")
        return data
