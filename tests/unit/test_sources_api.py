"""The alertflow API (POST /api/v1/alerts) → RawAlert → Alert, and the shared dispatch."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.identity import VECTOR_FROM, alert_id, label_fingerprint
from app.records import Alert, RawAlert, epoch_ms
from app.sources import MAX_ALERTS, SourceError, normalize, normalize_all, split_api

RECEIVED = "2026-11-23T07:00:00.000Z"
LATER = "2026-11-23T08:00:00.000Z"
ALERT_KEYS = Alert.__required_keys__  # what a source builds; later stages add the optional ones


def split(payload: Any, *, tenant: str = "default", received_at: str = RECEIVED) -> list[RawAlert]:
    return split_api(orjson.dumps(payload), tenant=tenant, received_at=received_at)


def one(payload: dict[str, Any], **kwargs: Any) -> Alert:
    (raw,) = split(payload, **kwargs)
    return normalize(raw)


def refused(payload: Any) -> SourceError:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    with pytest.raises(SourceError) as caught:
        split_api(body, tenant="default", received_at=RECEIVED)
    return caught.value


def test_minimal_alert_gets_every_default() -> None:
    (raw,) = split({"title": "Queue backing up"})
    assert raw == {
        "source": "api",
        "received_at": RECEIVED,
        "tenant": "default",
        "payload": {"title": "Queue backing up"},
        "context": {},
    }
    identity = {"__title__": "Queue backing up", "__service__": "", "__tenant__": "default"}
    fingerprint = label_fingerprint(identity)
    assert normalize(raw) == {
        "id": alert_id("default", fingerprint, epoch_ms(RECEIVED)),
        "tenant": "default",
        "source": "api",
        "status": "firing",
        "severity": "warning",
        "severity_original": None,
        "service": "",
        "title": "Queue backing up",
        "description": "",
        "labels": {},
        "annotations": {},
        "starts_at": RECEIVED,
        "ends_at": None,
        "received_at": RECEIVED,
        "fingerprint": fingerprint,
        "group_key": None,
        "template_id": None,
        "template": None,
        "duplicate_count": 1,
        "incident_id": None,
        "score": None,
        "decision": None,
        "reasons": [],
    }


def test_full_alert_keeps_every_given_field() -> None:
    payload = {
        "title": "Disk full",
        "description": "/var at 99%",
        "severity": "CRIT",
        "service": "db",
        "labels": {"host": "db1"},
        "annotations": {"runbook": "https://runbooks/disk"},
        "tenant": "team-a",
        "starts_at": "2026-11-23T07:56:04+01:00",
        "status": "resolved",
        "ends_at": "2026-11-23T07:00:00.5Z",
        "fingerprint": "my-own-id",
    }
    (raw,) = split(payload)
    assert raw["payload"] == payload and raw["tenant"] == "team-a"
    alert: dict[str, Any] = dict(normalize(raw))
    assert {key: alert[key] for key in payload} == payload | {
        "severity": "critical",
        "starts_at": "2026-11-23T06:56:04.000Z",
        "ends_at": "2026-11-23T07:00:00.500Z",
    }
    assert alert["severity_original"] == "CRIT"
    assert alert["id"] == alert_id("team-a", "my-own-id", epoch_ms("2026-11-23T06:56:04Z"))
    assert set(alert) == ALERT_KEYS


def test_same_alert_posted_twice_has_the_same_fingerprint() -> None:
    payload = {"title": "Disk full", "service": "db", "labels": {"host": "db1"}}
    first, again = one(payload), one(payload, received_at=LATER)
    assert first["fingerprint"] == again["fingerprint"]
    assert first["id"] != again["id"]  # no starts_at: each post starts at its receive time
    started = payload | {"starts_at": "2026-11-23T06:00:00Z"}
    assert one(started)["id"] == one(started, received_at=LATER)["id"]


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Disk nearly full"},
        {"service": "web"},
        {"labels": {"host": "db2"}},
        {"tenant": "team-b"},
    ],
)
def test_title_service_labels_and_tenant_are_the_identity(change: dict[str, Any]) -> None:
    payload = {"title": "Disk full", "service": "db", "labels": {"host": "db1"}}
    assert one(payload)["fingerprint"] != one(payload | change)["fingerprint"]


def test_description_severity_and_annotations_are_not_the_identity() -> None:
    payload = {"title": "Disk full"}
    other = payload | {"description": "x", "severity": "info", "annotations": {"a": "b"}}
    assert one(payload)["fingerprint"] == one(other)["fingerprint"]


def test_a_list_gives_one_raw_per_alert_in_order() -> None:
    raws = split([{"title": "a"}, {"title": "b", "tenant": "t2"}, {"title": "c"}], tenant="t1")
    assert [raw["payload"]["title"] for raw in raws] == ["a", "b", "c"]
    assert [raw["tenant"] for raw in raws] == ["t1", "t2", "t1"]


def test_resolved_without_ends_at_ends_when_received() -> None:
    alert = one({"title": "x", "status": "resolved"})
    assert (alert["status"], alert["ends_at"]) == ("resolved", RECEIVED)


def test_service_and_severity_fall_back_to_labels() -> None:
    alert = one({"title": "x", "labels": {"service": "api", "severity": "high"}})
    assert (alert["service"], alert["severity"]) == ("api", "critical")
    assert alert["severity_original"] == "high"


def test_priorities_map_onto_the_scale_and_the_original_is_kept() -> None:
    found = {p: one({"title": "x", "severity": p}) for p in ("P1", "P2", "P3", "P4", "P5")}
    assert [a["severity"] for a in found.values()] == [
        "critical",
        "critical",
        "warning",
        "info",
        "info",
    ]
    assert [a["severity_original"] for a in found.values()] == ["P1", "P2", "P3", "P4", "P5"]


@pytest.mark.parametrize(
    ("given", "severity"),
    [
        ("critical", "critical"),
        ("page", "critical"),
        ("FATAL", "critical"),
        ("error", "error"),
        ("err", "error"),
        ("warning", "warning"),
        ("medium", "warning"),
        ("whatever", "warning"),
        ("info", "info"),
        ("low", "info"),
        ("none", "info"),
        ("debug", "info"),
    ],
)
def test_severity_synonyms(given: str, severity: str) -> None:
    assert one({"title": "x", "severity": given})["severity"] == severity


def test_nulls_count_as_absent() -> None:
    alert = one({"title": "x", "description": None, "labels": None, "starts_at": None})
    assert (alert["description"], alert["labels"], alert["starts_at"]) == ("", {}, RECEIVED)


def alerts(bad: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"title": "ok"}, {"title": "ok"}, {"title": "ok"} | bad]


@pytest.mark.parametrize(
    ("payload", "code", "detail"),
    [
        (b"{", "invalid_json", "body:"),
        ("a string", "invalid_field", "body: expected an object"),
        ([], "invalid_field", "body: expected an alert object or a non-empty list"),
        ([{"title": "ok"}, 3], "invalid_field", "alerts[1]: expected an object"),
        ({}, "missing_field", "title: required"),
        ({"title": " "}, "invalid_field", "title: expected a non-empty string"),
        ({"title": 5}, "invalid_field", "title: expected a non-empty string"),
        (
            alerts({"labels": {"team": 1}}),
            "invalid_field",
            "alerts[2].labels.team: expected a string",
        ),
        (alerts({"labels": ["team"]}), "invalid_field", "alerts[2].labels: expected an object"),
        (
            alerts({"annotations": {"a": True}}),
            "invalid_field",
            "alerts[2].annotations.a: expected a string",
        ),
        (alerts({"description": 1}), "invalid_field", "alerts[2].description: expected a string"),
        (alerts({"service": ["a"]}), "invalid_field", "alerts[2].service: expected a string"),
        (alerts({"severity": 2}), "invalid_field", "alerts[2].severity: expected a string"),
        (alerts({"tenant": ""}), "invalid_field", "alerts[2].tenant: expected a non-empty string"),
        (
            alerts({"fingerprint": 12}),
            "invalid_field",
            "alerts[2].fingerprint: expected a non-empty string",
        ),
        (
            alerts({"status": "open"}),
            "invalid_field",
            "alerts[2].status: expected one of firing, resolved",
        ),
        (
            alerts({"starts_at": "yesterday"}),
            "invalid_field",
            "alerts[2].starts_at: expected an RFC 3339 time",
        ),
        (
            alerts({"starts_at": 1700000000}),
            "invalid_field",
            "alerts[2].starts_at: expected an RFC 3339 string",
        ),
        (
            alerts({"ends_at": "2026-13-01T00:00:00Z"}),
            "invalid_field",
            "alerts[2].ends_at: expected an RFC 3339 time",
        ),
        (alerts({"severty": "high"}), "invalid_field", "alerts[2].severty: unknown field"),
        ([{"description": "no title"}], "missing_field", "alerts[0].title: required"),
    ],
)
def test_invalid_alerts_are_refused_naming_index_and_field(
    payload: Any, code: str, detail: str
) -> None:
    error = refused(payload)
    assert (error.status, error.code) == (400, code)
    assert error.detail.startswith(detail), error.detail


def test_too_many_alerts_is_413() -> None:
    assert len(split([{"title": "x"}] * MAX_ALERTS)) == MAX_ALERTS
    error = refused([{"title": "x"}] * (MAX_ALERTS + 1))
    assert (error.status, error.code) == (413, "too_many_alerts")


def test_normalize_is_deterministic_and_depends_on_the_raw_only() -> None:
    (raw,) = split({"title": "x", "labels": {"a": "b"}})
    first = normalize(raw)
    assert normalize(raw) == first
    assert normalize(orjson.loads(orjson.dumps(raw))) == first


def test_normalize_refuses_a_source_it_does_not_know() -> None:
    (raw,) = split({"title": "x"})
    with pytest.raises(SourceError) as caught:
        normalize({**raw, "source": "carrier-pigeon"})  # type: ignore[typeddict-item]
    assert (caught.value.code, caught.value.status) == ("unknown_source", 400)


def test_a_request_normalised_together_equals_one_by_one() -> None:
    payloads = [
        {"title": f"Disk full {i}", "labels": {"host": f"db{i}", "é": "€"}, "service": "db"}
        for i in range(VECTOR_FROM + 3)
    ]
    payloads[5] |= {"fingerprint": "given-by-caller", "tenant": "team-b"}
    raws = split(payloads)
    together = normalize_all(raws)
    assert together == [normalize(raw) for raw in raws]
    assert together[5]["fingerprint"] == "given-by-caller"
    assert together[6]["fingerprint"] == label_fingerprint(
        {
            "host": "db6",
            "é": "€",
            "__title__": "Disk full 6",
            "__service__": "db",
            "__tenant__": "default",
        }
    )
