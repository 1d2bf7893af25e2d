"""Sentry: webhooks (signature, issue, event_alert, metric_alert, error) and SDK envelopes."""

from __future__ import annotations

import gzip
import hashlib
import hmac
from typing import Any

import orjson
import pytest

from app.identity import alert_id, label_fingerprint
from app.records import Alert, RawAlert, epoch_ms
from app.sources import (
    ALERT_RESOURCES,
    SourceError,
    normalize,
    split_envelope,
    split_sentry_webhook,
    verify_signature,
)
from tests.harness import SHARED

FIXTURES = SHARED / "fixtures"
HOOKS = FIXTURES / "sentry-webhooks"
ISSUE = (HOOKS / "issue-created.json").read_bytes()
EVENT_ALERT = (HOOKS / "event-alert-triggered.json").read_bytes()
METRIC_ALERT = (HOOKS / "metric-alert-resolved.json").read_bytes()
EXCEPTION_ENVELOPE = gzip.decompress(
    (FIXTURES / "sentry" / "sdk-envelope-exception.bin").read_bytes()
)
MESSAGE_ENVELOPE = gzip.decompress((FIXTURES / "sentry" / "sdk-envelope-message.bin").read_bytes())
RECEIVED = "2026-11-23T07:00:00.000Z"
SECRET = "a-client-secret"
ALERT_KEYS = Alert.__required_keys__  # what a source builds; later stages add the optional ones
LATER_STAGES: dict[str, Any] = {
    "template_id": None,
    "template": None,
    "duplicate_count": 1,
    "incident_id": None,
    "score": None,
    "decision": None,
    "reasons": [],
}


def hook(body: bytes, resource: str) -> Alert:
    (raw,) = split_sentry_webhook(body, resource=resource, tenant="t", received_at=RECEIVED)
    return normalize(raw)


def edited(body: bytes, **changes: Any) -> bytes:
    """The webhook with top-level fields replaced."""
    return orjson.dumps(orjson.loads(body) | changes)


def as_error_webhook(event_alert: bytes) -> bytes:
    """The ``error`` resource carries the same event shape under ``data.error``."""
    message = orjson.loads(event_alert)
    return orjson.dumps(
        {**message, "action": "created", "data": {"error": message["data"]["event"]}}
    )


def envelope(body: bytes) -> tuple[str | None, list[RawAlert]]:
    """Parse an envelope body as the HTTP server hands it over (already decompressed)."""
    return split_envelope(body, project_id="42", tenant="t", received_at=RECEIVED)


def make_envelope(header: dict[str, Any], *items: tuple[dict[str, Any], bytes]) -> bytes:
    lines = [orjson.dumps(header)]
    for item_header, payload in items:
        lines += [orjson.dumps(item_header), payload]
    return b"\n".join(lines) + b"\n"


def event_item(event: dict[str, Any], *, with_length: bool = True) -> tuple[dict[str, Any], bytes]:
    payload = orjson.dumps(event)
    header = {"type": "event"} | ({"length": len(payload)} if with_length else {})
    return header, payload


def event_alert(event: dict[str, Any]) -> Alert:
    _, (raw,) = envelope(make_envelope({}, event_item(event)))
    return normalize(raw)


def refused(call: Any, *args: Any, **kwargs: Any) -> SourceError:
    with pytest.raises(SourceError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- signatures ---------------------------------------------------------------------------


def test_signature_of_the_exact_body_is_accepted() -> None:
    signature = hmac.new(SECRET.encode(), ISSUE, hashlib.sha256).hexdigest()
    verify_signature(ISSUE, signature, SECRET)
    verify_signature(ISSUE, signature.upper(), SECRET)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "0" * 64,
        hmac.new(b"another-secret", ISSUE, hashlib.sha256).hexdigest(),
        hmac.new(SECRET.encode(), ISSUE + b" ", hashlib.sha256).hexdigest(),
        "ünïcode",
    ],
    ids=["missing", "empty", "zeros", "other-secret", "other-body", "non-ascii"],
)
def test_missing_or_wrong_signature_is_401(signature: str | None) -> None:
    error = refused(verify_signature, ISSUE, signature, SECRET)
    assert (error.status, error.code) == (401, "bad_signature")
    assert "Sentry-Hook-Signature" in error.detail


# --- webhooks -----------------------------------------------------------------------------


def test_issue_created_sets_every_field() -> None:
    (raw,) = split_sentry_webhook(ISSUE, resource="issue", tenant="t", received_at=RECEIVED)
    message = orjson.loads(ISSUE)
    assert raw["payload"] == message["data"]
    assert raw["context"] == {
        "via": "webhook",
        "resource": "issue",
        "action": "created",
        "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},
    }
    fingerprint = label_fingerprint({"sentry_issue_id": "1170820242"})
    assert (
        normalize(raw)
        == {
            "id": alert_id("t", fingerprint, epoch_ms("2019-08-19T20:58:37.391Z")),
            "tenant": "t",
            "source": "sentry",
            "status": "firing",
            "severity": "error",
            "severity_original": "error",
            "service": "front-end",
            "title": "ReferenceError: blooopy is not defined",
            "description": "?(runner)",
            "labels": {
                "sentry_issue_id": "1170820242",
                "project": "front-end",
                "level": "error",
                "platform": "javascript",
            },
            "annotations": {"short_id": "FRONT-END-9", "culprit": "?(runner)"},
            "starts_at": "2019-08-19T20:58:37.391Z",
            "ends_at": None,
            "received_at": RECEIVED,
            "fingerprint": fingerprint,
            "group_key": None,
        }
        | LATER_STAGES
    )


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("created", "firing"),
        ("unresolved", "firing"),
        ("assigned", "firing"),
        ("resolved", "resolved"),
        ("archived", "resolved"),
        ("ignored", "resolved"),
    ],
)
def test_issue_actions_map_to_status_and_keep_the_id_of_the_issue(action: str, status: str) -> None:
    created = hook(ISSUE, "issue")
    alert = hook(edited(ISSUE, action=action), "issue")
    assert alert["status"] == status
    assert alert["id"] == created["id"]
    assert alert["ends_at"] == (RECEIVED if status == "resolved" else None)


def test_event_alert_sets_every_field() -> None:
    alert = hook(EVENT_ALERT, "event_alert")
    fingerprint = label_fingerprint({"sentry_issue_id": "1117540176"})
    event_url = "https://sentry.io/api/0/projects/test-org/front-end/events/e4874d664c3540c1a32eab185f12c5ab/"
    assert (
        alert
        == {
            "id": alert_id("t", fingerprint, epoch_ms("2019-08-19T21:06:17.677Z")),
            "tenant": "t",
            "source": "sentry",
            "status": "firing",
            "severity": "error",
            "severity_original": "error",
            "service": "front-end",
            "title": "ReferenceError: heck is not defined",
            "description": "?(<anonymous>)",
            "labels": {
                "browser": "Chrome 75.0.3770",
                "browser.name": "Chrome",
                "handled": "no",
                "level": "error",
                "mechanism": "onerror",
                "os": "Mac OS X 10.14.0",
                "os.name": "Mac OS X",
                "user": "ip:162.217.75.90",
                "url": "https://null.jsbin.com/runner",
                "sentry_issue_id": "1117540176",
                "project": "front-end",
                "platform": "javascript",
            },
            "annotations": {
                "web_url": "https://sentry.io/organizations/test-org/issues/1117540176/events/e4874d664c3540c1a32eab185f12c5ab/",
                "url": event_url,
                "issue_url": "https://sentry.io/api/0/issues/1117540176/",
                "culprit": "?(<anonymous>)",
                "event_id": "e4874d664c3540c1a32eab185f12c5ab",
                "triggered_rule": "Very Important Alert Rule!",
            },
            "starts_at": "2019-08-19T21:06:17.677Z",
            "ends_at": None,
            "received_at": RECEIVED,
            "fingerprint": fingerprint,
            "group_key": None,
        }
        | LATER_STAGES
    )


def test_one_sentry_issue_has_one_fingerprint_across_resources() -> None:
    message = orjson.loads(EVENT_ALERT)
    message["data"]["event"]["issue_id"] = "1170820242"  # the issue of issue-created.json
    same_issue = orjson.dumps(message)
    fingerprints = {
        hook(ISSUE, "issue")["fingerprint"],
        hook(same_issue, "event_alert")["fingerprint"],
        hook(as_error_webhook(same_issue), "error")["fingerprint"],
    }
    assert len(fingerprints) == 1
    assert hook(EVENT_ALERT, "event_alert")["fingerprint"] not in fingerprints


def test_error_webhook_is_a_firing_alert_like_the_event_alert() -> None:
    body = as_error_webhook(EVENT_ALERT)
    (raw,) = split_sentry_webhook(body, resource="error", tenant="t", received_at=RECEIVED)
    assert raw["context"]["resource"] == "error"
    error, event = normalize(raw), hook(EVENT_ALERT, "event_alert")
    assert error["status"] == "firing"
    assert {k: v for k, v in error.items() if k != "annotations"} == {
        k: v for k, v in event.items() if k != "annotations"
    }
    assert "triggered_rule" not in error["annotations"]


def test_metric_alert_resolved_sets_every_field() -> None:
    fingerprint = label_fingerprint({"sentry_alert_rule_id": "7"})
    assert (
        hook(METRIC_ALERT, "metric_alert")
        == {
            "id": alert_id("t", fingerprint, epoch_ms("2020-09-13T12:26:40.000Z")),
            "tenant": "t",
            "source": "sentry",
            "status": "resolved",
            "severity": "warning",
            "severity_original": None,
            "service": "bar",
            "title": "Too many errors",
            "description": "1000 events in the last 10 minutes\\nFilter: level:error",
            "labels": {
                "sentry_alert_rule_id": "7",
                "project": "bar",
                "alert_rule": "Too many errors",
            },
            "annotations": {
                "web_url": "https://sentry.io/organizations/baz/alerts/1/",
                "description_title": "Resolved: Too many errors",
                "incident": "1",
            },
            "starts_at": "2020-09-13T12:26:40.000Z",
            "ends_at": RECEIVED,  # date_closed is null: the time it was received
            "received_at": RECEIVED,
            "fingerprint": fingerprint,
            "group_key": None,
        }
        | LATER_STAGES
    )


@pytest.mark.parametrize(("action", "severity"), [("critical", "critical"), ("warning", "warning")])
def test_metric_alert_firing_has_the_id_of_its_resolve(action: str, severity: str) -> None:
    alert = hook(edited(METRIC_ALERT, action=action), "metric_alert")
    assert (alert["status"], alert["severity"], alert["ends_at"]) == ("firing", severity, None)
    assert alert["id"] == hook(METRIC_ALERT, "metric_alert")["id"]


def test_non_alert_resources_are_not_split() -> None:
    assert set(ALERT_RESOURCES) == {"issue", "event_alert", "metric_alert", "error"}
    for resource in ("installation", "comment", "seer"):
        error = refused(
            split_sentry_webhook, ISSUE, resource=resource, tenant="t", received_at=RECEIVED
        )
        assert (error.status, error.code) == (400, "unsupported_resource")


def without(body: bytes, *path: str) -> bytes:
    message = orjson.loads(body)
    target = message
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return orjson.dumps(message)


@pytest.mark.parametrize(
    ("body", "resource", "code", "detail"),
    [
        (b"<html>", "issue", "invalid_json", "body:"),
        (edited(ISSUE, action="triggered"), "issue", "invalid_field", "action: expected one of"),
        (edited(METRIC_ALERT, action="open"), "metric_alert", "invalid_field", "action:"),
        (without(ISSUE, "action"), "issue", "missing_field", "action: required"),
        (edited(ISSUE, data=[]), "issue", "invalid_field", "data: expected an object"),
        (without(ISSUE, "data", "issue"), "issue", "missing_field", "data.issue: required"),
        (edited(EVENT_ALERT, action="created"), "issue", "missing_field", "data.issue: required"),
        (
            without(ISSUE, "data", "issue", "id"),
            "issue",
            "missing_field",
            "data.issue.id: required",
        ),
        (
            without(EVENT_ALERT, "data", "event", "issue_id"),
            "event_alert",
            "missing_field",
            "data.event.issue_id: required",
        ),
        (
            without(METRIC_ALERT, "data", "metric_alert", "alert_rule"),
            "metric_alert",
            "missing_field",
            "data.metric_alert.alert_rule: required",
        ),
        (
            without(METRIC_ALERT, "data", "metric_alert", "alert_rule", "id"),
            "metric_alert",
            "missing_field",
            "data.metric_alert.alert_rule.id: required",
        ),
    ],
)
def test_invalid_webhooks_are_refused_naming_the_field(
    body: bytes, resource: str, code: str, detail: str
) -> None:
    error = refused(hook, body, resource)
    assert (error.status, error.code) == (400, code)
    assert error.detail.startswith(detail), error.detail


def test_bad_time_in_a_webhook_is_refused() -> None:
    message = orjson.loads(ISSUE)
    message["data"]["issue"]["firstSeen"] = "last tuesday"
    error = refused(hook, orjson.dumps(message), "issue")
    assert error.detail.startswith("data.issue.firstSeen: expected an RFC 3339 time")


# --- envelopes ----------------------------------------------------------------------------


def test_exception_envelope_sets_every_field() -> None:
    event_id, (raw,) = envelope(EXCEPTION_ENVELOPE)
    lines = EXCEPTION_ENVELOPE.split(b"\n")
    assert event_id == "05a4fec0578b4053851a5105d6aae7d5"
    assert raw["payload"] == orjson.loads(lines[2])
    assert raw["context"] == {
        "via": "envelope",
        "project_id": "42",
        "envelope": orjson.loads(lines[0]),
    }
    grouping = "ZeroDivisionError\n__main__ in <module>\n"
    fingerprint = label_fingerprint({"sentry_project": "42", "sentry_grouping": grouping})
    assert (
        normalize(raw)
        == {
            "id": alert_id("t", fingerprint, epoch_ms("2026-11-23T06:56:29.090Z")),
            "tenant": "t",
            "source": "sentry",
            "status": "firing",
            "severity": "error",
            "severity_original": "error",
            "service": "sentry-project-42",
            "title": "ZeroDivisionError: division by zero",
            "description": "__main__ in <module>",
            "labels": {
                "sentry_project": "42",
                "environment": "test",
                "level": "error",
                "platform": "python",
                "exception_type": "ZeroDivisionError",
                "release": "bridge@1.0",
            },
            "annotations": {
                "event_id": "05a4fec0578b4053851a5105d6aae7d5",
                "server_name": "vm",
                "trace_id": "ab6785e2433e411ca9a21af8d426f855",
            },
            "starts_at": "2026-11-23T06:56:29.090Z",
            "ends_at": None,
            "received_at": RECEIVED,
            "fingerprint": fingerprint,
            "group_key": None,
        }
        | LATER_STAGES
    )


def test_message_envelope() -> None:
    event_id, (raw,) = envelope(MESSAGE_ENVELOPE)
    alert = normalize(raw)
    assert event_id == "3563552425f049daad527f02182887e2"
    assert (alert["title"], alert["severity"], alert["description"]) == (
        "hello from sdk",
        "warning",
        "",
    )
    grouping = "\n\nhello from sdk"
    assert alert["fingerprint"] == label_fingerprint(
        {"sentry_project": "42", "sentry_grouping": grouping}
    )
    assert set(alert) == ALERT_KEYS


def test_items_without_length_and_ignored_item_types() -> None:
    event = orjson.loads(MESSAGE_ENVELOPE.split(b"\n")[2])
    attachment = b"binary\n\x00with newlines\n"
    body = make_envelope(
        {"event_id": "abc", "sent_at": "2026-11-23T06:56:29Z"},
        ({"type": "session"}, b'{"sid":"1","status":"ok"}'),
        ({"type": "attachment", "length": len(attachment), "filename": "a.bin"}, attachment),
        event_item(event, with_length=False),
        ({"type": "transaction"}, b'{"type":"transaction"}'),
        ({"type": "client_report"}, b'{"discarded_events":[]}'),
    )
    event_id, raws = envelope(body)
    assert event_id == "abc"
    assert [raw["payload"] for raw in raws] == [event]
    assert normalize(raws[0])["title"] == "hello from sdk"


def test_envelope_without_events_has_no_alerts_and_takes_no_trailing_newline() -> None:
    body = orjson.dumps({"event_id": "e1"}) + b"\n" + b'{"type":"session","length":2}\n{}'
    assert envelope(body) == ("e1", [])
    assert envelope(b"{}") == (None, [])


def test_event_id_comes_from_the_event_when_the_header_has_none() -> None:
    event_id, raws = envelope(
        make_envelope({}, event_item({"event_id": "from-event", "message": "m"}))
    )
    assert (event_id, len(raws)) == ("from-event", 1)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (EXCEPTION_ENVELOPE[:400], "invalid_envelope"),
        (
            EXCEPTION_ENVELOPE.replace(b'"length":1524', b'"length":1000'),
            "invalid_envelope",
        ),
        (b"", "invalid_envelope"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "invalid_json"),
        (b"[1]\n", "invalid_field"),
        (b'{}\n{"length":2}\n{}\n', "invalid_field"),
        (b'{}\n{"type":"event","length":-1}\n{}\n', "invalid_field"),
        (b'{}\n{"type":"event","length":"2"}\n{}\n', "invalid_field"),
        (b'{}\n{"type":"event"}\n{"broken"\n', "invalid_json"),
        (b'{}\n{"type":"event"}\n[1, 2]\n', "invalid_field"),
    ],
    ids=[
        "truncated-plain",
        "wrong-length",
        "empty",
        "garbage",
        "header-not-object",
        "item-without-type",
        "negative-length",
        "string-length",
        "bad-event-json",
        "event-not-object",
    ],
)
def test_broken_envelopes_are_400(body: bytes, code: str) -> None:
    error = refused(envelope, body)
    assert (error.status, error.code) == (400, code), error.detail


def exception_event(value: str, *, timestamp: Any, function: str = "handler") -> dict[str, Any]:
    frame = {"module": "app.views", "function": function, "in_app": True, "lineno": 7}
    lib = {"module": "lib", "function": "call", "in_app": False}
    return {
        "event_id": value,
        "timestamp": timestamp,
        "level": "fatal",
        "exception": {
            "values": [
                {"type": "KeyError", "value": "cause"},
                {"type": "LookupError", "value": value, "stacktrace": {"frames": [frame, lib]}},
            ]
        },
    }


def test_same_error_at_other_times_shares_the_fingerprint_not_the_id() -> None:
    first = event_alert(exception_event("user 1 missing", timestamp=1700000000.25))
    second = event_alert(exception_event("user 2 missing", timestamp="2026-11-23T06:56:29Z"))
    elsewhere = event_alert(
        exception_event("user 1 missing", timestamp=1700000000.25, function="other")
    )
    assert first["fingerprint"] == second["fingerprint"] != elsewhere["fingerprint"]
    assert first["id"] != second["id"]
    assert first["starts_at"] == "2023-11-14T22:13:20.250Z"  # epoch seconds
    assert (first["title"], first["description"]) == (
        "LookupError: user 1 missing",
        "app.views in handler",
    )
    assert (first["severity"], first["labels"]["exception_type"]) == ("critical", "LookupError")


def test_message_template_groups_events_before_parameter_substitution() -> None:
    def logged(user: str) -> dict[str, Any]:
        entry = {
            "message": "login failed for %s",
            "params": [user],
            "formatted": f"login failed for {user}",
        }
        return {"logentry": entry, "logger": "auth", "level": "warn", "timestamp": 1700000000}

    alice, bob = event_alert(logged("alice")), event_alert(logged("bob"))
    assert alice["fingerprint"] == bob["fingerprint"]
    assert (alice["title"], bob["title"]) == ("login failed for alice", "login failed for bob")
    assert (alice["labels"]["logger"], alice["severity"]) == ("auth", "warning")


def test_custom_fingerprint_replaces_or_extends_the_default_grouping() -> None:
    base = exception_event("v", timestamp=1700000000)
    default = event_alert(base)["fingerprint"]
    assert event_alert(base | {"fingerprint": ["{{ default }}"]})["fingerprint"] == default
    assert event_alert(base | {"fingerprint": ["{{default}}", "db"]})["fingerprint"] != default
    custom = event_alert(base | {"fingerprint": ["payments", "timeout"]})["fingerprint"]
    other = event_alert(
        exception_event("w", timestamp=1, function="x") | {"fingerprint": ["payments", "timeout"]}
    )
    assert custom == other["fingerprint"] != default


def test_event_tags_service_and_missing_timestamp() -> None:
    alert = event_alert({"message": "m", "tags": {"service": "billing", "team": "pay", "n": 1}})
    assert alert["service"] == "billing"
    assert alert["labels"]["team"] == "pay" and "n" not in alert["labels"]
    assert alert["starts_at"] == RECEIVED
    assert alert["severity"] == "error"  # Sentry's default level


def test_bad_event_timestamp_is_refused() -> None:
    error = refused(event_alert, {"message": "m", "timestamp": "not a time"})
    assert (error.status, error.code) == (400, "invalid_field")
    assert error.detail.startswith("timestamp:")


@pytest.mark.parametrize(
    "raw",
    [
        lambda: envelope(EXCEPTION_ENVELOPE)[1][0],
        lambda: split_sentry_webhook(ISSUE, resource="issue", tenant="t", received_at=RECEIVED)[0],
        lambda: split_sentry_webhook(
            METRIC_ALERT, resource="metric_alert", tenant="t", received_at=RECEIVED
        )[0],
    ],
    ids=["envelope", "issue", "metric_alert"],
)
def test_normalize_is_deterministic_and_survives_the_kafka_round_trip(raw: Any) -> None:
    record = raw()
    first = normalize(record)
    assert normalize(record) == first
    assert normalize(orjson.loads(orjson.dumps(record))) == first
    assert set(first) == ALERT_KEYS


def test_sentry_raw_without_a_known_via_is_refused() -> None:
    (raw,) = split_sentry_webhook(ISSUE, resource="issue", tenant="t", received_at=RECEIVED)
    raw["context"]["via"] = "carrier-pigeon"
    assert refused(normalize, raw).code == "unknown_source"
