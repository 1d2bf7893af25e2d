"""An alertmanager.yml read unchanged (tests/fixtures/alertmanager.yml): it passes check-config,
routes test alerts to the receivers ``amtool config routes test`` names, and maps each
Alertmanager receiver onto alertflow's sinks."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest
import yaml

from app.config import Config, load_config, route_for
from app.sinks.discord import DiscordSink
from app.sinks.mail import EmailSink
from app.sinks.pagerduty import PagerDutySink
from app.sinks.slack import SlackSink
from app.sinks.teams import TeamsSink
from app.sinks.webhook import WebhookSink
from tests import amtool
from tests.harness import REPO

FILE = REPO / "tests" / "fixtures" / "alertmanager.yml"
NEWER_THAN_AMTOOL = ("msteams_configs", "msteamsv2_configs")  # Alertmanager ≥ 0.26 / 0.28
LABEL_SETS = [
    {"service": service, "severity": severity, **extra}
    for service, severity, extra in itertools.product(
        ["foo1", "foo2", "baz", "foo10", "files", "database", "other", ""],
        ["critical", "warning", ""],
        [{}, {"owner": "team-X"}, {"owner": "team-Y"}],
    )
] + [
    {"team": "frontend", "env": "prod"},
    {"team": "frontend", "env": "staging", "service": "files"},
    {"team": "frontend", "env": "production"},
    {"team": "payments", "severity": "critical"},
    {"team": "payments", "severity": "info"},
    {"team": "payments", "severity": "critical", "region": "eu-west-1"},
    {"team": "payments", "region": "eu-"},
    {"team": "payments", "severity": "debug", "region": "eu-central"},
    {"alertname": "Watchdog"},
    {"alertname": "Watchdog", "service": "files"},
    {"team": "data-eng", "tier": "online"},
    {"team": "data", "tier": "batch"},
    {"team": "datalake"},
    {"team": "métier", "service": "数据库"},
]


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config({"ALERTFLOW_ALERTMANAGER_CONFIG": str(FILE)})


@pytest.fixture(scope="module")
def for_amtool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if amtool.binary() is None:
        pytest.skip("amtool is not installed (scripts/install-test-tools installs it)")
    document = yaml.safe_load(FILE.read_text())
    for receiver in document["receivers"]:
        for key in NEWER_THAN_AMTOOL:
            receiver.pop(key, None)
    path = tmp_path_factory.mktemp("amtool") / "alertmanager.yml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_check_config_accepts_it_unchanged() -> None:
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "alertflow"), "check-config", "--alertmanager", str(FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert "OK: version" in done.stdout and "13 route(s)" in done.stdout


def test_amtool_accepts_it_too(for_amtool: Path) -> None:
    assert amtool.check_config(for_amtool) is None


@pytest.mark.parametrize("labels", LABEL_SETS, ids=[str(sorted(s.items())) for s in LABEL_SETS])
def test_routes_like_amtool(config: Config, for_amtool: Path, labels: dict[str, str]) -> None:
    ours = [route.receiver for route in route_for(config, labels)]
    assert ours == amtool.routes_test(for_amtool, labels)


def test_receivers_become_sinks(config: Config) -> None:
    sinks = {name: receiver.sink for name, receiver in config.receivers.items()}
    assert config.receiver_sinks["team-X-pager"] == (
        "team-X-pager/pagerduty_configs[0]",
        "team-X-pager/email_configs[0]",
    )
    assert config.receiver_sinks["blackhole"] == ()
    mail = sinks["team-X-pager/email_configs[0]"]
    assert mail == EmailSink(
        host="localhost",
        sender="alertmanager@example.org",
        to=("team-X+alerts-critical@example.org", "oncall@example.org"),
        name="team-X-pager/email_configs[0]",
        port=587,
        username="alertmanager",
        password="password",
    )
    assert sinks["team-Y-mails"].host == "mail.example.org"
    assert sinks["team-Y-pager"] == PagerDutySink(
        "fedcba9876543210fedcba9876543210", name="team-Y-pager"
    )
    assert sinks["frontend-chat/slack_configs[0]"] == SlackSink(
        "https://hooks.slack.com/services/T000/B000/XXXX",
        name="frontend-chat/slack_configs[0]",
        buttons=False,  # no ALERTFLOW_SLACK_SIGNING_SECRET: links, not buttons
    )
    assert isinstance(sinks["frontend-chat/msteams_configs[0]"], TeamsSink)
    assert isinstance(sinks["payments/msteamsv2_configs[0]"], TeamsSink)
    assert sinks["payments/webhook_configs[0]"] == WebhookSink(
        "https://payments.example.org/alerts", name="payments/webhook_configs[0]"
    )
    assert isinstance(sinks["data-discord"], DiscordSink)
    resolved = {name: r.send_resolved for name, r in config.receivers.items()}
    assert resolved["team-X-mails"] is False  # Alertmanager's default for e-mail
    assert resolved["team-X-pager/email_configs[0]"] is True  # set in the file
    assert resolved["team-DB-pager"] is False and resolved["team-Y-pager"] is True


def test_routes_carry_alertmanagers_defaults_and_intervals(config: Config) -> None:
    root = config.route
    assert (root.group_wait_ms, root.group_interval_ms, root.repeat_interval_ms) == (
        30_000,
        300_000,
        3 * 3_600_000,
    )
    (frontend,) = route_for(config, {"team": "frontend", "env": "prod"})
    assert frontend.group_by == ("...",) and frontend.active_time_intervals == ("business-hours",)
    (pager,) = route_for(config, {"service": "files", "severity": "critical"})
    assert pager.mute_time_intervals == ("offhours",) and pager.receivers == ("team-Y-pager",)
    assert pager.group_wait_ms == 30_000  # inherited
    assert set(config.time_intervals) == {"offhours", "business-hours"}
    assert len(config.inhibit_rules) == 2


def test_what_is_not_honoured_is_said_once(config: Config) -> None:
    warnings = "\n".join(config.warnings)
    assert warnings.count("templates: Go templates cannot run") == 1
    assert "blackhole" not in warnings.split("templates:")[1].split("\n")[0]
    assert "slack_configs[0].channel, slack_configs[0].title" in warnings
    assert "webhook_configs[0].max_alerts" in warnings
    assert "global.http_config: not honoured" in warnings
    assert len(config.warnings) == len(set(config.warnings))
