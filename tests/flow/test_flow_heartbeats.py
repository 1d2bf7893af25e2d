"""Heartbeats on the real broker: a stopped heartbeat pages within its interval + grace, one that
keeps arriving never pages, and the kube-prometheus ``Watchdog`` — sent by a real Prometheus —
is consumed as a ping and never pages anyone.

The module restarts the session worker with its own ``ALERTFLOW_CONFIG`` (two heartbeats; the
rest of the configuration is the default: every alert to the session's webhook receiver) and
puts the worker back as it was at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.records import epoch_ms
from tests.flow.test_real_clients import TIMEOUT, Daemon, _binary, explained, worker_log
from tests.harness import Receiver, TopicReader, Worker, eventually, free_port, http, unique

pytestmark = pytest.mark.integration

TENANT = unique("hb")
INTERVAL_S, GRACE_S = 2, 1  # the HTTP heartbeat
WATCHDOG_INTERVAL_S, WATCHDOG_GRACE_S = 2, 2
CLOCK_SLACK_S = 1.5  # the clock looks every second; the tick crosses Kafka once
KUBE_PROMETHEUS_WATCHDOG = {  # kube-prometheus' rule, as shipped (general.rules)
    "alert": "Watchdog",
    "annotations": {
        "description": "This is an alert meant to ensure that the entire alerting pipeline is"
        " functional.\nThis alert is always firing, therefore it should always be firing in"
        " Alertmanager\nand always fire against a receiver. There are integrations with various"
        " notification\nmechanisms that send a notification when this alert is not firing.",
        "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/general/watchdog",
        "summary": "An alert that should always be firing to certify that Alertmanager is working"
        " properly.",
    },
    "expr": "vector(1)",
    "labels": {"severity": "none"},
}


def config(names: dict[str, str]) -> dict[str, Any]:
    return {
        "heartbeats": [
            {
                "name": names["http"],
                "interval": f"{INTERVAL_S}s",
                "grace": f"{GRACE_S}s",
                "labels": {"team": "infra", "severity": "critical"},
                "tenant": TENANT,
            },
            {
                "name": names["watchdog"],
                "interval": f"{WATCHDOG_INTERVAL_S}s",
                "grace": f"{WATCHDOG_GRACE_S}s",
                "matchers": [f'alertname="Watchdog", prometheus="{names["watchdog"]}"'],
                "tenant": TENANT,
            },
        ],
        "notify": {"tick_interval": "1s", "reload_interval": "1s"},
    }


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    return {"http": unique("backup-job"), "watchdog": unique("prometheus")}


@pytest.fixture(scope="module")
def configured(
    worker: Worker, names: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The session worker, restarted with the heartbeats of this module."""
    path = tmp_path_factory.mktemp("heartbeats") / "alertflow.yaml"
    path.write_text(yaml.safe_dump(config(names)))
    worker.stop()
    worker.env["ALERTFLOW_CONFIG"] = str(path)
    worker.start()
    yield path
    worker.stop()
    del worker.env["ALERTFLOW_CONFIG"]
    worker.start()


def pages_of(enriched: TopicReader, name: str, status: str = "firing") -> list[dict[str, Any]]:
    return [
        value
        for _, value, _ in enriched.matching(
            lambda _, v: v.get("labels", {}).get("heartbeat") == name and v.get("status") == status
        )
    ]


def status_of(worker: Worker, name: str) -> dict[str, Any]:
    answer = http("GET", f"{worker.url}/api/v1/heartbeats/{name}")
    assert answer.status == 200, answer.body
    return answer.body


def ping(worker: Worker, name: str) -> None:
    answer = http("POST", f"{worker.url}/api/v1/heartbeats/{name}")
    assert answer.status == 202, answer.body


def test_a_heartbeat_that_keeps_arriving_never_pages_and_a_stopped_one_pages_in_time(
    configured: Path,
    worker: Worker,
    names: dict[str, str],
    enriched: TopicReader,
    receiver: Receiver,
) -> None:
    name = names["http"]
    with explained(worker_log(worker)):
        for _ in range(int(4 * (INTERVAL_S + GRACE_S) / 0.5)):  # 12 s of pings every 0.5 s
            ping(worker, name)
            time.sleep(0.5)
        assert pages_of(enriched, name) == []
        seen = eventually(
            lambda: (s := status_of(worker, name))["pings"] >= 20 and s, TIMEOUT, "the pings"
        )
        assert seen["status"] == "ok" and seen["paging_since"] is None

        stopped = time.time()
        (page,) = [
            v
            for _, v, _ in enriched.wait(
                lambda _, v: v.get("labels", {}).get("heartbeat") == name, timeout=TIMEOUT
            )
        ]
        paged_after = time.time() - stopped
        last_ping = epoch_ms(status_of(worker, name)["last_ping"])
        # The page starts exactly interval + grace after the last ping ...
        assert epoch_ms(page["starts_at"]) == last_ping + (INTERVAL_S + GRACE_S) * 1000
        # ... and is out within that, give or take the clock's second and one hop.
        assert paged_after <= INTERVAL_S + GRACE_S + CLOCK_SLACK_S + 2, paged_after
        assert page["labels"] == {
            "alertname": "HeartbeatMissing",
            "heartbeat": name,
            "severity": "critical",
            "team": "infra",
        }
        assert page["tenant"] == TENANT and page["severity"] == "critical"
        assert page["decision"] == "notify"
        receiver.wait(lambda body: body.get("incident_id") == page["incident_id"])
        assert status_of(worker, name)["status"] == "missing"

        # Pings resume: the page resolves, with the id it fired with.
        ping(worker, name)
        ((_, resolved, _),) = enriched.wait(
            lambda _, v: v.get("id") == page["id"] and v.get("status") == "resolved",
            timeout=TIMEOUT,
        )
        assert resolved["ends_at"] is not None
        assert status_of(worker, name)["status"] == "ok"


def test_an_unknown_heartbeat_is_a_404(configured: Path, worker: Worker) -> None:
    answer = http("POST", f"{worker.url}/api/v1/heartbeats/{unique('nobody')}")
    assert answer.status == 404 and answer.body["error"] == "not_found"
    listed = http("GET", f"{worker.url}/api/v1/heartbeats").body["heartbeats"]
    assert len(listed) == 2


@pytest.fixture
def prometheus_watchdog(
    configured: Path, worker: Worker, names: dict[str, str], tmp_path: Path
) -> Iterator[Daemon]:
    """Prometheus with kube-prometheus' Watchdog rule, sending to the worker every second."""
    binary, port = _binary("prometheus"), free_port()
    rules = tmp_path / "rules.yml"
    rules.write_text(
        yaml.safe_dump({"groups": [{"name": "general.rules", "rules": [KUBE_PROMETHEUS_WATCHDOG]}]})
    )
    settings = tmp_path / "prometheus.yml"
    settings.write_text(
        yaml.safe_dump(
            {
                "global": {
                    "evaluation_interval": "1s",
                    "external_labels": {"prometheus": names["watchdog"]},
                },
                "rule_files": [str(rules)],
                "alerting": {
                    "alertmanagers": [
                        {
                            "authorization": {"credentials": "test-token"},
                            "static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}],
                        }
                    ]
                },
            }
        )
    )
    daemon = Daemon(
        "prometheus",
        [
            binary,
            f"--config.file={settings}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",
        ],
        tmp_path / "prometheus.log",
        f"http://127.0.0.1:{port}/-/ready",
    )
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


def test_the_kube_prometheus_watchdog_is_a_ping_and_never_pages(
    prometheus_watchdog: Daemon,
    worker: Worker,
    names: dict[str, str],
    enriched: TopicReader,
    raw_topic: TopicReader,
    receiver: Receiver,
) -> None:
    name = names["watchdog"]
    with explained(prometheus_watchdog.log_section, worker_log(worker)):
        # Never heard from since the worker started, it may have paged before Prometheus came:
        # the first pings resolve that page.
        eventually(
            lambda: (s := status_of(worker, name))["pings"] >= 3 and s["status"] == "ok",
            TIMEOUT,
            "Watchdog pings",
        )
        eventually(  # the resolve of that page has the whole chain to go through
            lambda: len(pages_of(enriched, name, "resolved")) == len(pages_of(enriched, name)),
            TIMEOUT,
            "the Watchdog's early page resolved",
        )
        before = len(pages_of(enriched, name))
        started = time.time()
        while time.time() - started < 3 * (WATCHDOG_INTERVAL_S + WATCHDOG_GRACE_S):
            assert status_of(worker, name)["status"] in ("ok", "late")
            time.sleep(0.5)
        assert len(pages_of(enriched, name)) == before  # no page while the Watchdog arrives

        def from_this_prometheus(_: Any, value: Any) -> bool:
            labels = value.get("labels") or value.get("payload", {}).get("labels") or {}
            return labels.get("prometheus") == name

        # The Watchdog itself never entered the chain, so it never reached a receiver.
        assert raw_topic.matching(from_this_prometheus) == []
        assert enriched.matching(from_this_prometheus) == []
        assert not [p for p in receiver.posts if "Watchdog" in str(p["body"])]

        # Prometheus goes away: the heartbeat pages within its interval + grace.
        prometheus_watchdog.stop()
        stopped = time.time()
        enriched.wait(
            lambda _, v: (
                v.get("labels", {}).get("heartbeat") == name and v.get("status") == "firing"
            ),
            count=before + 1,
            timeout=TIMEOUT,
        )
        assert time.time() - stopped <= WATCHDOG_INTERVAL_S + WATCHDOG_GRACE_S + CLOCK_SLACK_S + 2
        page = pages_of(enriched, name)[-1]
        assert page["title"].startswith(f"Heartbeat {name} stopped")
        assert page["decision"] == "notify"
