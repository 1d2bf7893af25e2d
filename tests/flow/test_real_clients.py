"""Real clients against the worker, no mocks: Alertmanager 0.25 (driven with amtool) posting
its webhook, Prometheus scraping ``/metrics``, and ``sentry-sdk`` sending envelopes to a DSN
on this server.

Alertmanager and Prometheus are Debian's packages (``scripts/install-test-tools``); where a
binary is missing the test that needs it skips and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from app.identity import alert_id, label_fingerprint
from app.records import epoch_ms
from tests.harness import (
    API_TOKEN,
    FIXTURES,
    REPO,
    Answer,
    TopicReader,
    Worker,
    eventually,
    free_port,
    http,
    iter_fixture_headers,
    unique,
)

pytestmark = pytest.mark.integration

TIMEOUT = 60.0
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/install-test-tools installs it)")
    return path


def _client_env() -> dict[str, str]:
    """The environment of client processes: no proxy between them and 127.0.0.1."""
    return {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}


def _get(url: str, token: str | None = API_TOKEN) -> Answer:
    return http("GET", url, token=token)


@contextmanager
def explained(*sections: Callable[[], str]) -> Iterator[None]:
    """Append what the processes involved said to any assertion failing inside."""
    try:
        yield
    except AssertionError as error:
        raise AssertionError("\n".join([str(error), *(s() for s in sections)])) from None


def worker_log(worker: Worker) -> Callable[[], str]:
    return lambda: f"--- worker log ---\n{worker.log_tail()}"


def dead_letters_of(deadletters: TopicReader, marker: str) -> Callable[[], str]:
    """The dead letters that mention ``marker``: why a record never reached alerts.enriched."""

    def section() -> str:
        found = deadletters.matching(lambda _, value: marker in json.dumps(value, default=str))
        shown = "\n".join(json.dumps(value, default=str)[:2000] for _, value, _ in found[-5:])
        return f"--- alerts.deadletter mentioning {marker}: {len(found)} ---\n{shown}"

    return section


@dataclass
class Daemon:
    """A server process started by a test, with its log, stopped in the fixture's finalizer."""

    name: str
    argv: list[str]
    log: Path
    ready_url: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_client_env(),
            )
        with explained(self.log_section):
            eventually(self._ready, TIMEOUT, f"{self.name} to answer {self.ready_url}")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}")
        try:
            return _get(self.ready_url, token=None).status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_section(self, lines: int = 80) -> str:
        try:
            tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            tail = ["(no log)"]
        return f"--- {self.name} log ({self.log}) ---\n" + "\n".join(tail)


# --- Alertmanager ---------------------------------------------------------------------------


@dataclass
class Alertmanager:
    """A real Alertmanager whose only receiver is the worker's webhook, for one tenant."""

    daemon: Daemon
    amtool_path: str
    tenant: str
    port: int
    calls: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def amtool(self, *args: str) -> str:
        argv = [self.amtool_path, *args, f"--alertmanager.url={self.url}", "--timeout=30s"]
        done = subprocess.run(
            argv,
            check=False,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=_client_env(),
        )
        output = f"{done.stdout}{done.stderr}"
        self.calls.append(f"$ {' '.join(argv)}\n{output}")
        assert done.returncode == 0, f"amtool failed ({done.returncode}): {output}"
        return done.stdout

    def sections(self) -> str:
        return "--- amtool ---\n" + "\n".join(self.calls) + "\n" + self.daemon.log_section()


def alertmanager_config(webhook_url: str) -> str:
    """Alertmanager 0.25 configuration: everything goes to the worker, grouped and sent fast."""
    return json.dumps(
        {  # JSON is YAML
            "route": {
                "receiver": "alertflow",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "alertflow",
                    "webhook_configs": [
                        {
                            "url": webhook_url,
                            "send_resolved": True,
                            "http_config": {
                                "authorization": {"type": "Bearer", "credentials": API_TOKEN}
                            },
                        }
                    ],
                }
            ],
        },
        indent=2,
    )


@pytest.fixture
def alertmanager(worker: Worker, tmp_path: Path) -> Iterator[Alertmanager]:
    binary, amtool = _binary("prometheus-alertmanager"), _binary("amtool")
    tenant, port = unique("am-real"), free_port()
    config = tmp_path / "am.yml"
    config.write_text(alertmanager_config(f"{worker.url}/webhooks/alertmanager?tenant={tenant}"))
    check = subprocess.run(
        [amtool, "check-config", str(config)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, f"amtool check-config: {check.stdout}{check.stderr}"
    (tmp_path / "data").mkdir()
    daemon = Daemon(
        "alertmanager",
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ],
        tmp_path / "alertmanager.log",
        f"http://127.0.0.1:{port}/-/ready",
    )
    try:
        daemon.start()
        yield Alertmanager(daemon, amtool, tenant, port)
    finally:
        daemon.stop()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_alertmanager_webhook_firing_then_resolved_keeps_id_and_fingerprint(
    alertmanager: Alertmanager,
    worker: Worker,
    enriched: TopicReader,
    deadletters: TopicReader,
) -> None:
    name, tenant = unique("AmtoolFired"), alertmanager.tenant
    labels = {"alertname": name, "severity": "warning", "service": "checkout"}
    summary = f"checkout latency high ({name})"
    started = _rfc3339(datetime.now(UTC) - timedelta(minutes=1))
    alert_args = [
        *(f"{k}={v}" for k, v in labels.items()),
        f"--annotation=summary={summary}",
        f"--start={started}",
    ]

    def of_tenant(status: str) -> Callable[[str | None, Any], bool]:
        return lambda _, value: value.get("tenant") == tenant and value.get("status") == status

    with explained(alertmanager.sections, worker_log(worker), dead_letters_of(deadletters, tenant)):
        alertmanager.amtool("alert", "add", *alert_args)

        # Alertmanager's own fingerprint of the alert, from its v2 API.
        matcher = quote(f'alertname="{name}"')
        listing = f"{alertmanager.url}/api/v2/alerts?filter={matcher}"
        listed = eventually(
            lambda: (a := _get(listing, token=None)).status == 200 and a.body,
            TIMEOUT,
            "Alertmanager to list the alert",
        )
        am_fingerprint = listed[0]["fingerprint"]
        assert am_fingerprint == label_fingerprint(labels)
        expected_id = alert_id(tenant, am_fingerprint, epoch_ms(started))

        ((key, firing, timestamp),) = enriched.wait(of_tenant("firing"), timeout=TIMEOUT)
        assert key == firing["id"] == expected_id
        assert firing["source"] == "alertmanager" and firing["fingerprint"] == am_fingerprint
        assert firing["labels"] == labels
        assert firing["title"] == summary and firing["annotations"]["summary"] == summary
        assert firing["severity"] == "warning" and firing["service"] == "checkout"
        assert firing["ends_at"] is None
        assert timestamp == epoch_ms(firing["starts_at"]) == epoch_ms(started)

        view_url = f"{worker.url}/api/v1/alerts/{expected_id}"
        view = eventually(
            lambda: (a := _get(view_url)).status == 200 and a,
            TIMEOUT,
            f"GET /api/v1/alerts/{expected_id}",
        )
        assert view.body["id"] == expected_id and view.body["fingerprint"] == am_fingerprint

        # Resolve: the same alert again, ended a moment ago; Alertmanager sends it resolved.
        ended = _rfc3339(datetime.now(UTC) - timedelta(seconds=1))
        alertmanager.amtool("alert", "add", *alert_args, f"--end={ended}")
        ((key, resolved, _),) = enriched.wait(of_tenant("resolved"), timeout=TIMEOUT)
        assert key == resolved["id"] == expected_id
        assert resolved["fingerprint"] == am_fingerprint and resolved["labels"] == labels
        assert resolved["ends_at"] is not None
        assert epoch_ms(started) == epoch_ms(resolved["starts_at"]) < epoch_ms(resolved["ends_at"])
        eventually(
            lambda: _get(view_url).body.get("status") == "resolved",
            TIMEOUT,
            "the alert view to show the alert resolved",
        )
        # Nothing else for this tenant: one firing and one resolved record.
        assert len(enriched.matching(lambda _, value: value.get("tenant") == tenant)) == 2


# --- Prometheus -----------------------------------------------------------------------------


@dataclass
class Prometheus:
    daemon: Daemon
    port: int

    def value(self, expression: str) -> float | None:
        """The value of a query that selects at most one series (``None`` when none)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?query={quote(expression)}"
        answer = _get(url, token=None)
        assert answer.status == 200 and answer.body["status"] == "success", answer.body
        result = answer.body["data"]["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus(worker: Worker, tmp_path: Path) -> Iterator[Prometheus]:
    binary, port = _binary("prometheus"), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "alertflow",
                        "scrape_interval": "1s",
                        "scrape_timeout": "1s",
                        "static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}],
                    }
                ],
            },
            indent=2,
        )
    )
    daemon = Daemon(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=debug",
        ],
        tmp_path / "prometheus.log",
        f"http://127.0.0.1:{port}/-/ready",
    )
    try:
        daemon.start()
        yield Prometheus(daemon, port)
    finally:
        daemon.stop()


def test_prometheus_scrapes_the_metrics_endpoint(
    prometheus: Prometheus,
    worker: Worker,
    enriched: TopicReader,
    deadletters: TopicReader,
) -> None:
    tenant, job = unique("prom"), 'job="alertflow"'
    latency_count = f"alertflow_alert_processing_duration_seconds_count{{{job}}}"

    def at_least_one(expression: str) -> bool:
        return (prometheus.value(expression) or 0.0) >= 1.0

    sections = (
        prometheus.daemon.log_section,
        worker_log(worker),
        dead_letters_of(deadletters, tenant),
    )
    with explained(*sections):
        answer = http(
            "POST",
            f"{worker.url}/api/v1/alerts?tenant={tenant}",
            {"title": f"scraped {tenant}", "severity": "info", "service": "metrics"},
        )
        assert answer.status == 202, answer.body
        (alert,) = answer.body["ids"]

        # up == 1: Prometheus fetched and parsed the exposition.
        eventually(
            lambda: prometheus.value(f"up{{{job}}}") == 1.0,
            TIMEOUT,
            "Prometheus to scrape the worker (up == 1)",
        )
        eventually(
            lambda: at_least_one(f'alertflow_alerts_received_total{{{job},source="api"}}'),
            TIMEOUT,
            'alertflow_alerts_received_total{source="api"} >= 1 in Prometheus',
        )
        eventually(
            lambda: prometheus.value(latency_count) is not None,
            TIMEOUT,
            "alertflow_alert_processing_duration_seconds_count in Prometheus",
        )
        assert (prometheus.value(f"scrape_samples_scraped{{{job}}}") or 0.0) > 0

        # Once the alert is enriched, the latency histogram and the processed counter count it.
        enriched.wait(lambda key, _: key == alert, timeout=TIMEOUT)
        eventually(
            lambda: (
                at_least_one(latency_count)
                and at_least_one(f'alertflow_alerts_processed_total{{{job},tenant="{tenant}"}}')
            ),
            TIMEOUT,
            "alert_processing_duration_seconds and alerts_processed to count it",
        )


# --- sentry-sdk -----------------------------------------------------------------------------

SENTRY_CLIENT = r"""
import json, sys
import sentry_sdk

dsn, marker, compression = sys.argv[1:4]
options = {"_experiments": {"transport_compression_level": 0}} if compression == "none" else {}
sentry_sdk.init(dsn=dsn, debug=True, **options)
sentry_sdk.set_tag("service", marker)
# Each run is its own Sentry issue: the same exception at the same place would otherwise be
# one grouping, and the pipeline rightly counts a second run as a repeat of the first.
sentry_sdk.get_current_scope().fingerprint = ["{{ default }}", marker]
try:
    1 / 0
except ZeroDivisionError:
    exception_id = sentry_sdk.capture_exception()
message_id = sentry_sdk.capture_message(marker)
sentry_sdk.flush(timeout=30)
print(json.dumps({"exception": exception_id, "message": message_id}))
"""


def run_sentry_client(dsn: str, marker: str, compression: str = "gzip") -> tuple[dict, str]:
    """Run the SDK in its own process (its global state stays there); its event ids and log."""
    venv_python = REPO / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    done = subprocess.run(
        [python, "-c", SENTRY_CLIENT, dsn, marker, compression],
        check=False,
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 30,
        env=_client_env(),
        cwd=REPO,
    )
    assert done.returncode == 0, f"sentry client exited {done.returncode}:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_sentry_sdk_events_come_out_enriched(
    worker: Worker,
    enriched: TopicReader,
    deadletters: TopicReader,
    compression: str,
) -> None:
    marker = unique("sdk")
    dsn = f"http://{API_TOKEN}@127.0.0.1:{worker.port}/42"
    ids, log = run_sentry_client(dsn, marker, compression)

    def sdk_log() -> str:
        return f"--- sentry-sdk log ---\n{log}"

    with explained(sdk_log, worker_log(worker), dead_letters_of(deadletters, marker)):
        assert ids["exception"] and ids["message"] and ids["exception"] != ids["message"]
        assert "Unexpected status code" not in log

        records = enriched.wait(
            lambda _, value: value.get("source") == "sentry" and value.get("service") == marker,
            count=2,
            timeout=TIMEOUT,
        )
        by_event = {value["annotations"].get("event_id"): value for _, value, _ in records}
        assert set(by_event) == {ids["exception"], ids["message"]}

        exception = by_event[ids["exception"]]
        assert exception["title"] == "ZeroDivisionError: division by zero"
        assert exception["severity"] == "error" and exception["status"] == "firing"
        assert exception["labels"]["exception_type"] == "ZeroDivisionError"
        assert exception["labels"]["sentry_project"] == "42"
        assert exception["labels"]["service"] == marker

        message = by_event[ids["message"]]
        assert message["title"] == marker and message["severity"] == "info"
        assert message["labels"]["sentry_project"] == "42"
        assert message["fingerprint"] != exception["fingerprint"]

        view_url = f"{worker.url}/api/v1/alerts/{message['id']}"
        view = eventually(
            lambda: (a := _get(view_url)).status == 200 and a,
            TIMEOUT,
            "GET /api/v1/alerts/{id} of the message event",
        )
        assert view.body["source"] == "sentry" and view.body["title"] == marker


def test_sentry_sdk_with_a_wrong_public_key_is_rejected(
    worker: Worker,
    raw_topic: TopicReader,
) -> None:
    marker = unique("sdk-denied")
    _, log = run_sentry_client(f"http://not-{API_TOKEN}@127.0.0.1:{worker.port}/42", marker)
    assert "Unexpected status code: 401" in log, log
    assert not raw_topic.matching(lambda _, value: marker in json.dumps(value, default=str))


def test_sentry_envelope_capture_needs_the_right_public_key(
    worker: Worker,
    raw_topic: TopicReader,
) -> None:
    capture = FIXTURES / "sentry" / "sdk-envelope-message"
    body = capture.with_suffix(".bin").read_bytes()
    headers = {
        name: value
        for name, value in iter_fixture_headers(capture.with_suffix(".headers"))
        if name.lower() not in ("host", "content-length", "x-sentry-auth")
    }
    tenant = unique("sdk-capture")
    url = f"{worker.url}/api/42/envelope/?tenant={tenant}"

    def post(key: str | None, *, in_query: bool = False) -> int:
        sent = dict(headers)
        if key is not None and not in_query:
            sent["X-Sentry-Auth"] = (
                f"Sentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/2.75.0"
            )
        query = f"&sentry_key={key}" if in_query else ""
        return http("POST", url + query, headers=sent, raw=body, token=None).status

    assert post("wrong-public-key") == 401
    assert post("wrong-public-key", in_query=True) == 401
    assert post(None) == 401
    assert not raw_topic.matching(lambda _, value: value.get("tenant") == tenant)
    # The same capture with the right key is accepted: the refusals above are about the key.
    assert post(API_TOKEN) == 200
    assert post(API_TOKEN, in_query=True) == 200
    raw_topic.wait(lambda _, value: value.get("tenant") == tenant, count=2, timeout=TIMEOUT)
