"""Event times far in the future (issue G.9): taken as the receive time, with a reason."""

from __future__ import annotations

import orjson

from app.sources import normalize, split_alertmanager, split_api, split_envelope

RECEIVED = "2026-11-23T07:00:00.000Z"
FUTURE = "9999-12-31T00:00:00Z"


def test_api_alert_from_the_far_future_starts_when_received() -> None:
    (raw,) = split_api(orjson.dumps({"title": "skewed"}), tenant="t", received_at=RECEIVED)
    raw["payload"]["starts_at"] = FUTURE
    alert = normalize(raw)
    assert alert["starts_at"] == RECEIVED
    assert "starts_at 9999-12-31T00:00:00.000Z is more than 1 h" in alert["reasons"][0]


def test_within_an_hour_and_in_the_past_are_kept() -> None:
    for starts_at in ("2026-11-23T07:59:00.000Z", "2025-01-01T00:00:00.000Z"):
        body = orjson.dumps({"title": "fine", "starts_at": starts_at})
        (raw,) = split_api(body, tenant="t", received_at=RECEIVED)
        alert = normalize(raw)
        assert (alert["starts_at"], alert["reasons"]) == (starts_at, [])


def test_alertmanager_resolve_from_the_far_future_ends_when_received() -> None:
    body = {
        "version": "4",
        "alerts": [
            {
                "status": "resolved",
                "labels": {"alertname": "Skew"},
                "startsAt": FUTURE,
                "endsAt": FUTURE,
            }
        ],
    }
    (raw,) = split_alertmanager(orjson.dumps(body), tenant="t", received_at=RECEIVED)
    alert = normalize(raw)
    assert (alert["starts_at"], alert["ends_at"]) == (RECEIVED, RECEIVED)
    assert len(alert["reasons"]) == 2


def test_firing_alertmanager_alert_keeps_its_expected_end() -> None:
    ends = "2026-11-23T09:00:00.000Z"  # Alertmanager's endsAt of a firing alert lies ahead
    body = {
        "version": "4",
        "alerts": [{"status": "firing", "labels": {}, "startsAt": RECEIVED, "endsAt": ends}],
    }
    (raw,) = split_alertmanager(orjson.dumps(body), tenant="t", received_at=RECEIVED)
    assert normalize(raw)["ends_at"] == ends


def test_sdk_event_from_the_far_future_is_clamped() -> None:
    envelope = b'{}\n{"type": "event"}\n{"message": "boom", "timestamp": 253402214400}\n'
    _, (raw,) = split_envelope(envelope, project_id="1", tenant="t", received_at=RECEIVED)
    assert normalize(raw)["starts_at"] == RECEIVED
