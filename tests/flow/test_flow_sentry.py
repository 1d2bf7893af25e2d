"""Sentry webhooks and SDK envelopes, from real captures, through the whole chain."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from tests.harness import (
    API_TOKEN,
    SENTRY_SECRET,
    TopicReader,
    Worker,
    http,
    iter_fixture_headers,
    unique,
)

WEBHOOKS = [
    ("issue-created.json", "issue", "firing"),
    ("event-alert-triggered.json", "event_alert", "firing"),
    ("metric-alert-resolved.json", "metric_alert", "resolved"),
]


def _signed(body: bytes, resource: str) -> dict[str, str]:
    signature = hmac.new(SENTRY_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Signature": signature,
        "Request-ID": "test",
    }


@pytest.mark.parametrize(("fixture", "resource", "status"), WEBHOOKS)
def test_signed_webhook_comes_out_enriched(
    worker: Worker,
    enriched: TopicReader,
    fixtures_dir: Path,
    fixture: str,
    resource: str,
    status: str,
) -> None:
    tenant = unique("sentry")
    body = (fixtures_dir / "sentry-webhooks" / fixture).read_bytes()
    answer = http(
        "POST",
        f"{worker.url}/webhooks/sentry?tenant={tenant}",
        raw=body,
        headers=_signed(body, resource),
    )
    assert answer.status == 202, answer.body
    (alert_id,) = answer.body["ids"]
    (_, alert, _), *_ = enriched.wait(lambda key, value: key == alert_id)
    assert alert["source"] == "sentry" and alert["status"] == status and alert["tenant"] == tenant
    assert alert["title"] and alert["template_id"] and alert["incident_id"]


def test_installation_webhook_is_accepted_without_alert(worker: Worker) -> None:
    body = b'{"action": "created", "data": {"installation": {"uuid": "x"}}}'
    answer = http(
        "POST", f"{worker.url}/webhooks/sentry", raw=body, headers=_signed(body, "installation")
    )
    assert answer.status == 204


@pytest.mark.parametrize("capture", ["sdk-envelope-exception", "sdk-envelope-message"])
def test_sdk_envelope_capture_is_answered_with_event_id_and_flows(
    worker: Worker,
    enriched: TopicReader,
    fixtures_dir: Path,
    capture: str,
) -> None:
    tenant = unique("sdk")
    headers = dict(iter_fixture_headers(fixtures_dir / "sentry" / f"{capture}.headers"))
    headers.pop("Host"), headers.pop("Content-Length")
    headers["X-Sentry-Auth"] = headers["X-Sentry-Auth"].replace("abc123public", API_TOKEN)
    body = (fixtures_dir / "sentry" / f"{capture}.bin").read_bytes()
    answer = http(
        "POST",
        f"{worker.url}/api/42/envelope/?tenant={tenant}",
        raw=body,
        headers=headers,
        token=None,
    )
    assert answer.status == 200, answer.body
    event_id = answer.body["id"]
    assert len(event_id) == 32
    (_, alert, _), *_ = enriched.wait(lambda key, value: value["tenant"] == tenant)
    assert alert["source"] == "sentry" and alert["status"] == "firing"
    assert alert["labels"]
