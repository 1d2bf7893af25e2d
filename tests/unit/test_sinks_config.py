"""The ``receivers:`` section, alertflow's form: every type, delivery options, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, from_document, load_config
from app.settings import SettingsError, load_settings
from app.sinks.base import Receiver
from app.sinks.discord import DiscordSink
from app.sinks.mail import EmailSink
from app.sinks.pagerduty import EVENTS_URL, PagerDutySink
from app.sinks.slack import SlackSink
from app.sinks.teams import TeamsSink
from app.sinks.webhook import WebhookSink

EXAMPLE = """
http_port: 6070
receivers:
  - name: ops-slack
    type: slack
    url: ${SLACK_WEBHOOK_URL}
    rate_limit: {rate: 1, burst: 5}
  - name: ops-teams
    type: teams
    url: https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke
  - name: ops-discord
    type: discord
    url: https://discord.com/api/webhooks/123/abc
  - name: oncall
    type: pagerduty
    routing_key: ${PAGERDUTY_ROUTING_KEY}
    attempts: 6
    max_delay: 60
    circuit_breaker: {failures: 3, reset_after: 120}
  - name: mail
    type: email
    host: smtp.example.org
    port: 587
    from: alertflow@example.org
    to: [oncall@example.org, sre@example.org]
    username: alertflow
    password: ${SMTP_PASSWORD}
  - name: audit
    type: webhook
    url: https://hooks.example.org/alertflow
    secret: ${AUDIT_SECRET}
    timeout: 5
"""

ENV = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x",
    "PAGERDUTY_ROUTING_KEY": "R0123456789abcdef0123456789abcde",
    "SMTP_PASSWORD": "pw",
    "AUDIT_SECRET": "s3",
}


def test_every_type_from_the_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "alertflow.yaml"
    config.write_text(EXAMPLE)
    env = {**ENV, "ALERTFLOW_CONFIG": str(config), "ALERTFLOW_WEBHOOK_URL": "http://127.0.0.1:1/h"}
    settings = load_settings(env)  # the receivers: section is not an unknown setting
    assert settings.http_port == 6070
    receivers = load_config(env, settings).receivers
    assert list(receivers) == [
        "webhook",
        "ops-slack",
        "ops-teams",
        "ops-discord",
        "oncall",
        "mail",
        "audit",
    ]
    sinks = {name: r.sink for name, r in receivers.items() if isinstance(r, Receiver)}
    assert sinks["webhook"] == WebhookSink("http://127.0.0.1:1/h")
    # buttons follow ALERTFLOW_SLACK_SIGNING_SECRET, unset here
    slack = SlackSink(ENV["SLACK_WEBHOOK_URL"], name="ops-slack", buttons=False)
    assert sinks["ops-slack"] == slack
    assert isinstance(sinks["ops-teams"], TeamsSink)
    assert isinstance(sinks["ops-discord"], DiscordSink)
    assert sinks["oncall"] == PagerDutySink(ENV["PAGERDUTY_ROUTING_KEY"], name="oncall")
    assert sinks["oncall"].url == EVENTS_URL
    assert sinks["mail"] == EmailSink(
        host="smtp.example.org",
        sender="alertflow@example.org",
        to=("oncall@example.org", "sre@example.org"),
        name="mail",
        username="alertflow",
        password="pw",
    )
    assert sinks["audit"] == WebhookSink("https://hooks.example.org/alertflow", "s3", "audit")
    slack, oncall, audit = receivers["ops-slack"], receivers["oncall"], receivers["audit"]
    assert isinstance(slack, Receiver) and (slack.rate, slack.burst) == (1.0, 5.0)
    assert isinstance(oncall, Receiver)
    assert (oncall.retry.attempts, oncall.retry.max_delay) == (6, 60.0)
    assert (oncall.breaker.failures, oncall.breaker.reset_after) == (3, 120.0)
    assert isinstance(audit, Receiver) and audit.retry.timeout == 5.0


def test_without_a_file_only_the_webhook_variable_counts() -> None:
    env = {"ALERTFLOW_WEBHOOK_URL": "http://127.0.0.1:1/h", "ALERTFLOW_WEBHOOK_SECRET": "k"}
    receivers = load_config(env).receivers
    assert list(receivers) == ["webhook"]
    assert load_config({}).receivers == {}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"name": "x"}, "receivers: Input should be a valid list"),
        ([{"type": "slack", "url": "https://h"}], "receivers[0].name: required"),
        ([{"name": "a:b", "type": "slack", "url": "https://h"}], "receivers[0].name"),
        ([{"name": "a", "type": "sms"}], "receivers[0].type: expected one of 'webhook', 'slack'"),
        ([{"name": "a", "type": "slack"}], "receivers[0].url: required"),
        ([{"name": "a", "type": "slack", "url": "hooks.slack.com"}], "receivers[0].url: expected"),
        (
            [{"name": "a", "type": "slack", "url": "https://h", "colour": "#x"}],
            "receivers[0].colour: unknown key",
        ),
        (
            [{"name": "a", "type": "slack", "token": "xoxb-1"}],
            "receivers[0].channel: required with token",
        ),
        (
            [{"name": "a", "type": "slack", "url": "https://h"}] * 2,
            "receivers[1].name: 'a' is used twice",
        ),
        (
            [{"name": "a", "type": "slack", "url": "https://h", "attempts": 0}],
            "receivers[0].attempts: expected a whole number ≥ 1",
        ),
        (
            [{"name": "a", "type": "slack", "url": "https://h", "timeout": "soon"}],
            "receivers[0].timeout: expected a number of seconds",
        ),
        (
            [{"name": "a", "type": "slack", "url": "https://h", "rate_limit": {"per": 1}}],
            "receivers[0].rate_limit.per: unknown key",
        ),
        (
            [{"name": "a", "type": "slack", "url": "https://h", "rate_limit": {"rate": -1}}],
            "receivers[0].rate_limit.rate: expected a number of seconds > 0",
        ),
        (
            [{"name": "m", "type": "email", "host": "h", "from": "a@b", "to": []}],
            "receivers[0].to",
        ),
        (
            [{"name": "m", "type": "email", "host": "h", "from": "a@b", "to": "c", "starttls": 1}],
            "receivers[0].starttls: Input should be a valid boolean",
        ),
        (
            [{"name": "p", "type": "pagerduty", "routing_key": "${PD_KEY}"}],
            "receivers[0].routing_key: environment variable PD_KEY is not set",
        ),
        (
            [{"name": "p", "type": "pagerduty", "routing_key": "short"}],
            "receivers[0].routing_key: a PagerDuty routing key has 32 characters",
        ),
        (
            [{"name": "s", "type": "slack", "url": "https://h", "title": "{{ title "}],
            "receivers[0].title: template does not compile: line 1",
        ),
    ],
)
def test_errors_name_the_path(items: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_document({"receivers": items}, {})
    assert any(e.startswith(message) for e in caught.value.errors), caught.value.errors
    assert isinstance(caught.value, SettingsError)  # the CLI exits 2 on it


def test_a_file_receiver_cannot_take_the_webhook_variables_name(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("receivers:\n  - {name: webhook, type: slack, url: 'https://h'}\n")
    env = {"ALERTFLOW_CONFIG": str(config), "ALERTFLOW_WEBHOOK_URL": "http://127.0.0.1:1/h"}
    with pytest.raises(ConfigError, match="'webhook' is taken by ALERTFLOW_WEBHOOK_URL"):
        load_config(env)


def test_links_are_signed_with_the_api_token_for_each_receivers_lifetime(tmp_path: Path) -> None:
    config = tmp_path / "alertflow.yaml"
    config.write_text(
        "receivers:\n"
        "  - {name: ops, type: slack, url: 'https://hooks.slack.com/x', link_lifetime: 3600}\n"
    )
    env = {
        "ALERTFLOW_CONFIG": str(config),
        "ALERTFLOW_WEBHOOK_URL": "http://127.0.0.1:1/h",
        "ALERTFLOW_API_TOKEN": "tok",
    }
    receivers = load_config(env).receivers
    signers = {name: r.links for name, r in receivers.items() if isinstance(r, Receiver)}
    assert (signers["ops"].token, signers["ops"].lifetime_s) == ("tok", 3600)
    assert (signers["webhook"].token, signers["webhook"].lifetime_s) == ("tok", 24 * 3600)
    unsigned = load_config({**env, "ALERTFLOW_API_TOKEN": ""}).receivers
    assert all(r.links.token is None for r in unsigned.values() if isinstance(r, Receiver))
    with pytest.raises(ConfigError, match=r"receivers\[0\].link_lifetime"):
        from_document(
            {"receivers": [{"name": "x", "type": "slack", "url": "https://h", "link_lifetime": 0}]}
        )
