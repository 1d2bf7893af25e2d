"""alertflow as an Alertmanager, driven by the real clients: Prometheus (``alerting.
alertmanagers`` pointing at the worker) and amtool 0.25 (alerts, silences), no mocks.

Every answer of ``/api/v2/`` is checked against Alertmanager 0.25's own OpenAPI definitions
(``tests/fixtures/alertmanager-0.25-openapi.yaml``). Prometheus and amtool are Debian's packages
(``scripts/install-test-tools``); a test whose binary is missing skips and says why.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
import yaml

from app.identity import label_fingerprint
from app.records import epoch_ms
from tests.flow.test_real_clients import (
    TIMEOUT,
    Daemon,
    _binary,
    _client_env,
    dead_letters_of,
    explained,
    worker_log,
)
from tests.harness import API_TOKEN, REPO, TopicReader, Worker, eventually, free_port, http, unique

pytestmark = pytest.mark.integration

OPENAPI = yaml.safe_load(
    (REPO / "tests" / "fixtures" / "alertmanager-0.25-openapi.yaml").read_text()
)


def conforms(value: Any, definition: str) -> None:
    """Fail unless ``value`` is a valid ``definition`` of Alertmanager's OpenAPI (date-times
    included)."""
    schema = {"$ref": f"#/definitions/{definition}", "definitions": OPENAPI["definitions"]}
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


def v2(worker: Worker, path: str, body: Any = None, method: str | None = None) -> Any:
    return http(method or ("GET" if body is None else "POST"), f"{worker.url}/api/v2{path}", body)


# --- amtool ---------------------------------------------------------------------------------


@dataclass
class Amtool:
    """amtool 0.25 pointed at the worker, with the API token in its HTTP client configuration."""

    path: str
    url: str
    http_config: Path
    calls: list[str] = field(default_factory=list)

    def __call__(self, *args: str, ok: bool = True) -> str:
        argv = [
            self.path,
            *args,
            f"--alertmanager.url={self.url}",
            f"--http.config.file={self.http_config}",
            "--timeout=30s",
        ]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=TIMEOUT, env=_client_env(), check=False
        )
        output = f"{done.stdout}{done.stderr}"
        self.calls.append(f"$ {' '.join(argv[:-3])}\n{output}")
        assert (done.returncode == 0) == ok, f"amtool exited {done.returncode}: {output}"
        return done.stdout

    def section(self) -> str:
        return "--- amtool ---\n" + "\n".join(self.calls[-12:])


@pytest.fixture
def amtool(worker: Worker, tmp_path: Path) -> Amtool:
    config = tmp_path / "amtool-http.yml"
    config.write_text(yaml.safe_dump({"authorization": {"credentials": API_TOKEN}}))
    return Amtool(_binary("amtool"), worker.url, config)


def test_amtool_adds_queries_and_silences_alerts(
    amtool: Amtool, worker: Worker, enriched: TopicReader, deadletters: TopicReader
) -> None:
    tenant, name = unique("amtool"), unique("DiskFull")
    labels = {"alertname": name, "tenant": tenant, "instance": "db1", "severity": "critical"}
    with explained(amtool.section, worker_log(worker), dead_letters_of(deadletters, tenant)):
        amtool(
            "alert", "add", *(f"{k}={v}" for k, v in labels.items()), "--annotation=summary=full"
        )
        # The session's first alert may meet a fresh worker's first commit, which has taken over
        # a minute on a loaded machine (a changelog topic missing from its first assignment).
        ((_, firing, _),) = enriched.wait(
            lambda _, v: v.get("tenant") == tenant, timeout=2 * TIMEOUT
        )
        assert firing["fingerprint"] == label_fingerprint(labels) and firing["labels"] == labels
        assert firing["source"] == "alertmanager" and firing["status"] == "firing"

        listed = json.loads(amtool("-o", "json", "alert", "query", f"tenant={tenant}"))
        assert [(a["labels"], a["status"]["state"]) for a in listed] == [(labels, "active")]
        assert listed[0]["fingerprint"] == firing["fingerprint"]
        assert name in amtool("alert", "query", f"tenant={tenant}")  # the table output

        silence = amtool("silence", "add", f"tenant={tenant}", "-c", "disk swap", "-d", "1h")
        silence_id = silence.strip()
        queried = eventually(
            lambda: silence_id in (out := amtool("silence", "query", f"tenant={tenant}")) and out,
            TIMEOUT,
            "amtool silence query to list the new silence",
        )
        assert "disk swap" in queried
        # The silence is alertflow's own: the v1 API lists it too.
        v1 = http("GET", f"{worker.url}/api/v1/silences/{silence_id}").body
        assert v1["comment"] == "disk swap" and v1["status"] == {"state": "active"}

        # Silenced now: amtool's default (active alerts) hides it; --silenced shows it.
        assert json.loads(amtool("-o", "json", "alert", "query", f"tenant={tenant}")) == []
        (muted,) = json.loads(amtool("-o", "json", "alert", "query", "-s", f"tenant={tenant}"))
        assert muted["status"] == {
            "state": "suppressed",
            "silencedBy": [silence_id],
            "inhibitedBy": [],
        }

        # The silence mutes the pipeline as well: a new alert of the tenant is suppressed.
        other = {**labels, "instance": "db2"}
        amtool("alert", "add", *(f"{k}={v}" for k, v in other.items()))
        ((_, second, _),) = enriched.wait(
            lambda _, v: v.get("labels", {}).get("instance") == "db2" and v.get("tenant") == tenant,
            timeout=TIMEOUT,
        )
        assert second["decision"] == "suppress"
        assert any(silence_id in reason for reason in second["reasons"])

        amtool("silence", "expire", silence_id)
        eventually(
            lambda: silence_id in amtool("silence", "query", "--expired", f"tenant={tenant}"),
            TIMEOUT,
            "the expired silence among the expired ones",
        )
        assert silence_id not in amtool("silence", "query", f"tenant={tenant}")
        active = json.loads(amtool("-o", "json", "alert", "query", f"tenant={tenant}"))
        assert sorted(a["labels"]["instance"] for a in active) == ["db1", "db2"]


def test_amtool_shows_alertflows_refusals(amtool: Amtool, worker: Worker) -> None:
    # amtool accepts a matcher that matches every alert; Alertmanager (and alertflow) refuse it.
    assert amtool("silence", "add", 'tenant=~".*"', "-c", "everything", ok=False) == ""
    assert "at least one matcher must not match the empty string" in amtool.calls[-1]
    missing = "00000000-0000-4000-8000-000000000000"
    amtool("silence", "expire", missing, ok=False)
    assert "404" in amtool.calls[-1]


# --- Prometheus -----------------------------------------------------------------------------


def prometheus_config(worker: Worker, rules: Path) -> dict[str, Any]:
    return {
        "global": {
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "external_labels": {"cluster": "eu-1"},
        },
        "rule_files": [str(rules)],
        "alerting": {
            "alertmanagers": [
                {
                    "api_version": "v2",
                    "authorization": {"credentials": API_TOKEN},
                    "static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}],
                }
            ]
        },
    }


def rules(tenant: str, expression: str) -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "always",
                "rules": [
                    {
                        "alert": "CheckoutErrors",
                        "expr": expression,
                        "labels": {"severity": "critical", "service": "checkout", "tenant": tenant},
                        "annotations": {"summary": "checkout errors at {{ $value }}"},
                    }
                ],
            }
        ]
    }


@dataclass
class Prometheus:
    daemon: Daemon
    rules: Path

    def reload(self, content: dict[str, Any]) -> None:
        self.rules.write_text(yaml.safe_dump(content))
        assert self.daemon.process is not None
        self.daemon.process.send_signal(1)  # SIGHUP: Prometheus reloads its rules


@pytest.fixture
def prometheus_sending(worker: Worker, tmp_path: Path) -> Iterator[tuple[Prometheus, str]]:
    binary, port, tenant = _binary("prometheus"), free_port(), unique("prom-am")
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump(rules(tenant, "vector(0.7) > 0.5")))
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(worker, rule_file)))
    daemon = Daemon(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",
            "--log.level=debug",
        ],
        tmp_path / "prometheus.log",
        f"http://127.0.0.1:{port}/-/ready",
    )
    try:
        daemon.start()
        yield Prometheus(daemon, rule_file), tenant
    finally:
        daemon.stop()


def test_prometheus_sends_its_alerts_straight_to_alertflow(
    prometheus_sending: tuple[Prometheus, str],
    worker: Worker,
    enriched: TopicReader,
    raw_topic: TopicReader,
    deadletters: TopicReader,
) -> None:
    prometheus, tenant = prometheus_sending
    labels = {
        "alertname": "CheckoutErrors",
        "cluster": "eu-1",
        "service": "checkout",
        "severity": "critical",
        "tenant": tenant,
    }

    def of_tenant(status: str) -> Any:
        return lambda _, v: v.get("tenant") == tenant and v.get("status") == status

    sections = (prometheus.daemon.log_section, worker_log(worker))
    with explained(*sections, dead_letters_of(deadletters, tenant)):
        ((key, firing, timestamp),) = enriched.wait(of_tenant("firing"), timeout=TIMEOUT)
        assert firing["labels"] == labels and firing["fingerprint"] == label_fingerprint(labels)
        assert firing["source"] == "alertmanager" and firing["title"] == "checkout errors at 0.7"
        assert firing["annotations"]["generator_url"].startswith("http")
        assert timestamp == epoch_ms(firing["starts_at"])
        # Prometheus re-sends every second; the chain sees one alert, the raw topic each send.
        raws = raw_topic.wait(lambda _, v: v.get("tenant") == tenant, count=3, timeout=TIMEOUT)
        assert {raw["context"]["timeout"] for _, raw, _ in raws} == {False}  # it sends endsAt
        time.sleep(2)
        assert len(enriched.matching(lambda _, v: v.get("tenant") == tenant)) == 1

        # The Alertmanager API lists it as Prometheus sent it.
        matcher = quote(f'tenant="{tenant}"')
        (listed,) = eventually(
            lambda: v2(worker, f"/alerts?filter={matcher}").body, TIMEOUT, "GET /api/v2/alerts"
        )
        conforms([listed], "gettableAlerts")
        assert listed["labels"] == labels and listed["receivers"] == [{"name": "webhook"}]

        # The rule stops firing: Prometheus sends the resolve, with the same id.
        prometheus.reload(rules(tenant, "vector(0.1) > 0.5"))
        ((key_resolved, resolved, _),) = enriched.wait(of_tenant("resolved"), timeout=TIMEOUT)
        assert key_resolved == key == resolved["id"] == firing["id"]
        assert resolved["ends_at"] is not None
        eventually(
            lambda: v2(worker, f"/alerts?filter={matcher}").body == [],
            TIMEOUT,
            "a resolved alert to leave GET /api/v2/alerts",
        )


# --- the API's shapes and refusals ----------------------------------------------------------


def test_every_answer_has_alertmanagers_shape(
    worker: Worker, enriched: TopicReader, raw_topic: TopicReader
) -> None:
    tenant = unique("shapes")
    posted = [
        {"labels": {"alertname": "A", "tenant": tenant, "job": "api"}, "annotations": {"x": "y"}},
        {"labels": {"alertname": "B", "tenant": tenant}, "generatorURL": "http://prom/graph"},
    ]
    answer = v2(worker, "/alerts", posted)
    assert (answer.status, answer.body) == (200, None)  # Alertmanager answers 200, no body
    enriched.wait(lambda _, v: v.get("tenant") == tenant, count=2, timeout=TIMEOUT)
    # Without endsAt, the alert ends resolve_timeout (default 5m) after it came, unless re-sent.
    _, raw, _ = raw_topic.wait(lambda _, v: v.get("tenant") == tenant, timeout=TIMEOUT)[0]
    assert raw["context"]["timeout"] is True
    assert epoch_ms(raw["context"]["ends_at"]) - epoch_ms(raw["received_at"]) == 300_000

    matcher = quote(f'tenant="{tenant}"')
    alerts = eventually(
        lambda: len(found := v2(worker, f"/alerts?filter={matcher}").body) == 2 and found,
        TIMEOUT,
        "both alerts listed",
    )
    conforms(alerts, "gettableAlerts")
    assert [a["fingerprint"] for a in alerts] == sorted(a["fingerprint"] for a in alerts)
    assert [a.get("generatorURL") for a in alerts if a["labels"]["alertname"] == "B"] == [
        "http://prom/graph"
    ]
    groups = v2(worker, f"/alerts/groups?filter={matcher}").body
    conforms(groups, "alertGroups")
    # The default routes group by tenant, service and alertname: one group per alert here.
    found = sorted((g["labels"]["alertname"], g["labels"], len(g["alerts"])) for g in groups)
    assert [(labels, count) for _, labels, count in found] == [
        ({"tenant": tenant, "service": "api", "alertname": "A"}, 1),
        ({"tenant": tenant, "alertname": "B"}, 1),
    ]
    assert all(g["receiver"] == {"name": "webhook"} for g in groups)
    assert v2(worker, f"/alerts/groups?filter={matcher}&receiver=nobody").body == []

    status = v2(worker, "/status").body
    conforms(status, "alertmanagerStatus")
    assert status["versionInfo"]["version"] == "0.25.0"
    assert status["cluster"] == {"peers": [], "status": "disabled"}
    receivers = v2(worker, "/receivers").body
    assert receivers == [{"name": "webhook"}]
    for receiver in receivers:
        conforms(receiver, "receiver")

    silence = {
        "matchers": [{"name": "tenant", "value": tenant, "isRegex": False}],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "test",
        "comment": "shapes",
    }
    conforms(silence, "postableSilence")
    made = v2(worker, "/silences", silence)
    assert made.status == 200 and set(made.body) == {"silenceID"}
    one = eventually(
        lambda: (a := v2(worker, f"/silence/{made.body['silenceID']}")).status == 200 and a.body,
        TIMEOUT,
        "GET /api/v2/silence/{id}",
    )
    conforms(one, "gettableSilence")
    assert one["startsAt"] > "2020-01-01"  # a new silence does not start in the past
    listed = v2(worker, f"/silences?filter={matcher}").body
    conforms(listed, "gettableSilences")
    assert [s["id"] for s in listed] == [one["id"]]
    assert v2(worker, f"/silence/{one['id']}", method="DELETE").status == 200


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/alerts", [{"labels": {"bad-name": "x"}}], 400, 'invalid name "bad-name"'),
        ("/alerts", {"labels": {}}, 400, "expected a list"),
        ("/alerts?active=perhaps", None, 400, "active: expected true or false"),
        ("/alerts?receiver=(", None, 400, "failed to parse receiver param"),
        ("/alerts?filter=%7Bx", None, 400, "bad matcher format"),
        ("/silences", {"matchers": []}, 400, "startsAt in body is required"),
        ("/silence/nope", None, 404, "not found"),
    ],
)
def test_refusals_are_json_strings_as_alertmanager_answers_them(
    worker: Worker, path: str, body: Any, status: int, says: str
) -> None:
    answer = v2(worker, path, body)
    assert answer.status == status
    assert isinstance(answer.body, str) and says in answer.body, answer.body


def test_the_api_needs_the_token(worker: Worker) -> None:
    answer = http("GET", f"{worker.url}/api/v2/alerts", token=None)
    assert answer.status == 401
    posted = http("POST", f"{worker.url}/api/v2/alerts", [{"labels": {"a": "b"}}], token=None)
    assert posted.status == 401


def test_valid_alerts_of_a_partly_invalid_post_are_accepted(
    worker: Worker, enriched: TopicReader
) -> None:
    tenant = unique("partly")
    body = [{"labels": {"alertname": "Kept", "tenant": tenant}}, {"labels": {"0": "x"}}]
    answer = v2(worker, "/alerts", body)
    assert answer.status == 400 and answer.body == 'alerts[1]: invalid label set: invalid name "0"'
    ((_, kept, _),) = enriched.wait(lambda _, v: v.get("tenant") == tenant, timeout=TIMEOUT)
    assert kept["labels"]["alertname"] == "Kept"
