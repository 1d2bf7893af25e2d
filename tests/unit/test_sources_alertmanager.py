"""Alertmanager webhook v4 → RawAlert → Alert, on payloads captured from Alertmanager 0.25."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.identity import alert_id, label_fingerprint
from app.records import Alert, epoch_ms
from app.sources import SourceError, normalize, split_alertmanager
from tests.harness import SHARED

FIXTURES = SHARED / "fixtures" / "alertmanager"
FIRING = (FIXTURES / "am-0.25-firing-2-alerts.json").read_bytes()
RESOLVED = (FIXTURES / "am-0.25-resolved.json").read_bytes()
RECEIVED = "2026-11-23T07:00:00.000Z"
ALERT_KEYS = Alert.__required_keys__  # what a source builds; later stages add the optional ones
GROUP_KEY = '{}:{alertname="DiskFull", cluster="prod"}'


def split(body: bytes, tenant: str = "default") -> list[Any]:
    return split_alertmanager(body, tenant=tenant, received_at=RECEIVED)


def webhook(**alert: Any) -> bytes:
    """A one-alert webhook whose alert has the given fields over a valid minimal one."""
    base = {"status": "firing", "labels": {"alertname": "X"}, "startsAt": "2026-01-01T00:00:00Z"}
    return orjson.dumps({"version": "4", "groupKey": "g", "alerts": [base | alert]})


def error_of(body: bytes) -> SourceError:
    with pytest.raises(SourceError) as caught:
        split(body)
    return caught.value


def test_split_keeps_each_alert_unchanged_with_the_group_fields_as_context() -> None:
    message = orjson.loads(FIRING)
    raws = split(FIRING)
    assert [raw["payload"] for raw in raws] == message["alerts"]
    expected_context = {key: value for key, value in message.items() if key != "alerts"}
    assert all(raw["context"] == expected_context for raw in raws)
    assert set(expected_context) == {
        "receiver",
        "status",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "version",
        "groupKey",
        "truncatedAlerts",
    }
    assert all(raw["source"] == "alertmanager" for raw in raws)
    assert all(raw["received_at"] == RECEIVED and raw["tenant"] == "default" for raw in raws)


def test_normalize_firing_alert_sets_every_field() -> None:
    alert = normalize(split(FIRING)[0])
    assert alert == {
        "id": alert_id("default", "1560ad22a2dfb891", epoch_ms("2026-11-23T06:56:04.436Z")),
        "tenant": "default",
        "source": "alertmanager",
        "status": "firing",
        "severity": "critical",
        "severity_original": "critical",
        "service": "prod",
        "title": "disk full on db1",
        "description": "",
        "labels": {
            "alertname": "DiskFull",
            "cluster": "prod",
            "instance": "db1",
            "severity": "critical",
        },
        "annotations": {"summary": "disk full on db1", "generator_url": "http://prom:9090/graph"},
        "starts_at": "2026-11-23T06:56:04.436Z",
        "ends_at": None,
        "received_at": RECEIVED,
        "fingerprint": "1560ad22a2dfb891",
        "group_key": GROUP_KEY,
        "template_id": None,
        "template": None,
        "duplicate_count": 1,
        "incident_id": None,
        "score": None,
        "decision": None,
        "reasons": [],
    }


def test_every_alert_has_exactly_the_alert_keys() -> None:
    for raw in split(FIRING) + split(RESOLVED):
        assert set(normalize(raw)) == ALERT_KEYS


@pytest.mark.parametrize("body", [FIRING, RESOLVED], ids=["firing", "resolved"])
def test_fingerprints_are_alertmanagers_own_and_recomputed_identically(body: bytes) -> None:
    for raw, sent in zip(split(body), orjson.loads(body)["alerts"], strict=True):
        assert normalize(raw)["fingerprint"] == sent["fingerprint"]
        del raw["payload"]["fingerprint"]
        assert normalize(raw)["fingerprint"] == sent["fingerprint"]
        assert label_fingerprint(sent["labels"]) == sent["fingerprint"]


def test_resolve_carries_the_id_of_its_firing() -> None:
    firing = [normalize(raw) for raw in split(FIRING)]
    resolved = [normalize(raw) for raw in split(RESOLVED)]
    assert [alert["id"] for alert in firing] == [alert["id"] for alert in resolved]
    assert firing[0]["id"] != firing[1]["id"]
    assert (resolved[0]["status"], resolved[0]["ends_at"]) == (
        "resolved",
        "2026-11-23T06:56:07.000Z",
    )
    assert resolved[0]["title"] == "DiskFull"  # no summary on the resolve: the alertname
    assert (resolved[1]["status"], resolved[1]["ends_at"]) == ("firing", None)


def test_tenant_label_wins_over_the_argument() -> None:
    raws = split(webhook(labels={"alertname": "X", "tenant": "team-a"}), tenant="default")
    assert raws[0]["tenant"] == "team-a"
    assert normalize(raws[0])["tenant"] == "team-a"
    assert split(webhook(), tenant="fallback")[0]["tenant"] == "fallback"


@pytest.mark.parametrize(
    ("fields", "title", "description", "service", "severity"),
    [
        ({}, "X", "", "", "warning"),
        ({"annotations": {"message": "m"}}, "X", "m", "", "warning"),
        (
            {"annotations": {"description": "d", "message": "m", "summary": "s"}},
            "s",
            "d",
            "",
            "warning",
        ),
        (
            {"labels": {"alertname": "X", "job": "node", "app": "a", "severity": "page"}},
            "X",
            "",
            "node",
            "critical",
        ),
        (
            {"labels": {"alertname": "X", "service": "api", "job": "j", "severity": "warn"}},
            "X",
            "",
            "api",
            "warning",
        ),
        (
            {"labels": {"alertname": "X", "app": "a", "cluster": "c", "severity": "low"}},
            "X",
            "",
            "a",
            "info",
        ),
    ],
)
def test_title_description_service_and_severity_fall_back_in_order(
    fields: dict[str, Any], title: str, description: str, service: str, severity: str
) -> None:
    alert = normalize(split(webhook(**fields))[0])
    assert (alert["title"], alert["description"], alert["service"], alert["severity"]) == (
        title,
        description,
        service,
        severity,
    )


def test_normalize_is_deterministic_and_survives_the_kafka_round_trip() -> None:
    for raw in split(FIRING):
        first = normalize(raw)
        assert normalize(raw) == first
        assert normalize(orjson.loads(orjson.dumps(raw))) == first


@pytest.mark.parametrize(
    ("body", "code", "detail"),
    [
        (b"{not json", "invalid_json", "body:"),
        (b"[]", "invalid_field", "body: expected an object"),
        (orjson.dumps({"alerts": []}), "missing_field", "version: required"),
        (
            orjson.dumps({"version": "3", "alerts": []}),
            "unsupported_version",
            'version: expected "4"',
        ),
        (
            orjson.dumps({"version": "4", "alerts": []}),
            "invalid_field",
            "alerts: expected a non-empty list",
        ),
        (
            orjson.dumps({"version": "4", "alerts": {}}),
            "invalid_field",
            "alerts: expected a non-empty list",
        ),
        (
            orjson.dumps({"version": "4", "alerts": ["x"]}),
            "invalid_field",
            "alerts[0]: expected an object",
        ),
        (
            webhook(status="pending"),
            "invalid_field",
            "alerts[0].status: expected one of firing, resolved",
        ),
        (
            webhook(labels={"alertname": "X", "instance": 1}),
            "invalid_field",
            "alerts[0].labels.instance: expected a string",
        ),
        (webhook(labels=["alertname"]), "invalid_field", "alerts[0].labels: expected an object"),
        (
            webhook(annotations={"summary": None}),
            "invalid_field",
            "alerts[0].annotations.summary: expected a string",
        ),
        (webhook(startsAt=None), "missing_field", "alerts[0].startsAt: required"),
        (
            webhook(startsAt="yesterday"),
            "invalid_field",
            "alerts[0].startsAt: expected an RFC 3339 time",
        ),
        (webhook(endsAt="soon"), "invalid_field", "alerts[0].endsAt: expected an RFC 3339 time"),
        (webhook(fingerprint=7), "invalid_field", "alerts[0].fingerprint: expected a string"),
    ],
)
def test_invalid_webhooks_are_refused_with_400_naming_the_field(
    body: bytes, code: str, detail: str
) -> None:
    error = error_of(body)
    assert (error.status, error.code) == (400, code)
    assert error.detail.startswith(detail), error.detail


def test_error_names_the_index_of_the_bad_alert() -> None:
    message = orjson.loads(FIRING)
    del message["alerts"][1]["labels"]
    error = error_of(orjson.dumps(message))
    assert (error.code, error.detail) == ("missing_field", "alerts[1].labels: required")
