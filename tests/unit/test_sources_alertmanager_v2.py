"""``POST /api/v2/alerts`` bodies → RawAlert → Alert, on what Prometheus 2.42 really posts.

The fixtures were captured from Debian's ``prometheus`` (2.42) evaluating
``tests/fixtures/prometheus/capture-rules.yml`` and posting to a local HTTP server: the firing
``Watchdog`` and ``HighErrorRate``, then ``HighErrorRate`` resolved.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.identity import alert_id, label_fingerprint
from app.records import epoch_ms
from app.sources import SourceError, normalize, split_alertmanager_v2
from app.sources.alertmanager_v2 import fingerprint
from tests.harness import REPO

FIXTURES = REPO / "tests" / "fixtures" / "prometheus"
FIRING = (FIXTURES / "prometheus-2.42-firing.json").read_bytes()
RESOLVED = (FIXTURES / "prometheus-2.42-resolved.json").read_bytes()
SENT_AT = "2026-12-01T23:10:00.000Z"  # between the firing alerts' start and their end
RESOLVED_AT = "2026-12-01T23:10:20.000Z"  # after the resolved alert's end
TIMEOUT = 300_000


def split(body: bytes, received_at: str = SENT_AT, tenant: str = "t") -> tuple[list, list]:
    return split_alertmanager_v2(
        body, tenant=tenant, received_at=received_at, resolve_timeout_ms=TIMEOUT
    )


def post(*alerts: dict[str, Any]) -> bytes:
    return orjson.dumps(list(alerts))


def test_prometheus_posts_json_to_the_v2_path() -> None:
    """What the view requires of a request, as Prometheus sent it (the captured request line and
    headers)."""
    request_line, *lines = (FIXTURES / "prometheus-2.42-firing.headers").read_text().splitlines()
    headers = dict(line.split(": ", 1) for line in lines)
    assert request_line == "POST /api/v2/alerts"
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"].startswith("Bearer ")  # alerting.alertmanagers.authorization


def test_prometheus_firing_alerts_keep_their_payload_and_get_alertmanagers_fingerprint() -> None:
    sent = orjson.loads(FIRING)
    raws, errors = split(FIRING)
    assert errors == []
    assert [raw["payload"] for raw in raws] == sent
    alerts = [normalize(raw) for raw in raws]
    watchdog, high = alerts
    assert [a["status"] for a in alerts] == ["firing", "firing"]
    assert watchdog["fingerprint"] == label_fingerprint(sent[0]["labels"])
    assert high["labels"] == {
        "alertname": "HighErrorRate",
        "cluster": "eu-1",
        "service": "checkout",
        "severity": "critical",
    }
    assert high["source"] == "alertmanager" and high["service"] == "checkout"
    assert high["severity"] == "critical" and high["title"] == "error rate 0.7"
    assert high["annotations"]["generator_url"] == sent[1]["generatorURL"]
    assert high["starts_at"] == "2026-12-01T23:09:58.255Z" and high["ends_at"] is None
    assert high["id"] == alert_id("t", high["fingerprint"], epoch_ms(sent[1]["startsAt"]))
    assert watchdog["severity_original"] == "none"


def test_the_resolve_of_an_alert_has_the_id_of_its_firing() -> None:
    (firing,) = [
        normalize(r)
        for r in split(FIRING)[0]
        if r["payload"]["labels"]["alertname"] == "HighErrorRate"
    ]
    (raw,), _ = split(RESOLVED, received_at=RESOLVED_AT)
    resolved = normalize(raw)
    assert resolved["status"] == "resolved"
    assert resolved["id"] == firing["id"] and resolved["fingerprint"] == firing["fingerprint"]
    assert resolved["ends_at"] == "2026-12-01T23:10:13.255Z"
    # Sent again before its end time, the same alert still fires (Prometheus' resend).
    (early,), _ = split(RESOLVED, received_at="2026-12-01T23:10:10.000Z")
    assert normalize(early)["status"] == "firing"


def test_an_alert_without_times_starts_when_received_and_ends_after_resolve_timeout() -> None:
    (raw,), _ = split(post({"labels": {"alertname": "Manual"}}))
    assert raw["context"] == {
        "via": "api_v2",
        "starts_at": SENT_AT,
        "ends_at": "2026-12-01T23:15:00.000Z",
        "timeout": True,
    }
    alert = normalize(raw)
    assert alert["status"] == "firing" and alert["starts_at"] == SENT_AT
    # Only an end: Alertmanager starts it then, and it is resolved once that time passed.
    (ended,), _ = split(post({"labels": {"alertname": "Manual"}, "endsAt": "2026-12-01T23:00:00Z"}))
    assert ended["context"]["starts_at"] == ended["context"]["ends_at"]
    assert normalize(ended)["status"] == "resolved"


def test_empty_label_values_are_dropped_before_the_fingerprint() -> None:
    (raw,), _ = split(post({"labels": {"alertname": "X", "instance": ""}}))
    alert = normalize(raw)
    assert alert["labels"] == {"alertname": "X"}
    assert alert["fingerprint"] == label_fingerprint({"alertname": "X"})


def test_an_alerts_tenant_label_wins_over_the_requests_tenant() -> None:
    raws, _ = split(post({"labels": {"alertname": "X", "tenant": "payments"}}), tenant="default")
    assert raws[0]["tenant"] == "payments" and normalize(raws[0])["tenant"] == "payments"


def test_invalid_alerts_are_named_and_the_valid_ones_kept_as_alertmanager_does() -> None:
    body = post(
        {"labels": {"alertname": "Good"}},
        {"labels": {"bad-name": "x"}},
        {"labels": {"only": ""}},
        {
            "labels": {"alertname": "Backwards"},
            "startsAt": "2026-01-02T00:00:00Z",
            "endsAt": "2026-01-01T00:00:00Z",
        },
        {"labels": {"alertname": "X"}, "annotations": {"0": "x"}},
    )
    raws, errors = split(body)
    assert [raw["payload"]["labels"] for raw in raws] == [{"alertname": "Good"}]
    assert errors == [
        'alerts[1]: invalid label set: invalid name "bad-name"',
        "alerts[2]: at least one label pair required",
        "alerts[3]: start time must be before end time",
        'alerts[4]: invalid annotations: invalid name "0"',
    ]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{", "body"),
        (b'{"labels": {}}', "body: expected a list of postable alerts"),
        (b"[1]", "alerts[0]: expected an object"),
        (b"[{}]", "alerts[0].labels: required"),
        (b'[{"labels": {"a": 1}}]', "alerts[0].labels.a: expected a string"),
        (b'[{"labels": {"a": "b"}, "startsAt": "yesterday"}]', "alerts[0].startsAt"),
        (b'[{"labels": {"a": "b"}, "endsAt": 5}]', "alerts[0].endsAt"),
        (b'[{"labels": {"a": "b"}, "generatorURL": 5}]', "alerts[0].generatorURL"),
    ],
)
def test_a_body_that_does_not_decode_is_refused_whole(body: bytes, detail: str) -> None:
    with pytest.raises(SourceError) as refused:
        split(body)
    assert refused.value.status == 400 and refused.value.detail.startswith(detail)


def test_fingerprints_are_cached_by_label_set_and_equal_to_the_uncached_ones() -> None:
    labels = {"alertname": "KubePodCrashLooping", "namespace": "monitoring", "pod": "p-0"}
    assert fingerprint(labels) == label_fingerprint(labels)
    assert fingerprint(dict(reversed(labels.items()))) == label_fingerprint(labels)
    assert fingerprint({**labels, "pod": "p-1"}) == label_fingerprint({**labels, "pod": "p-1"})
