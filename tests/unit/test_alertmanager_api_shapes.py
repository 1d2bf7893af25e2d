"""The pure parts of the Alertmanager API v2: alert and group shapes, silence rules, status.

Expected values follow Alertmanager 0.25's code (``api/v2/api.go``, ``silence/silence.go``,
``dispatch/dispatch.go``); the shapes are checked against its OpenAPI definitions.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from app.alertmanager_api.alerts import (
    ZERO_TIME,
    AlertFilter,
    alert_groups,
    alert_status,
    gettable_alert,
)
from app.alertmanager_api.silences import SilenceNotFound, filtered, gettable_silence, set_silence
from app.alertmanager_api.status import SECRET, original, receivers, status
from app.config import from_document
from app.matchers import parse_matcher
from app.records import epoch_ms
from app.silences import Silence, SilenceError
from tests.harness import REPO

FIXTURES = REPO / "tests" / "fixtures"
OPENAPI = yaml.safe_load((FIXTURES / "alertmanager-0.25-openapi.yaml").read_text())
NOW = "2026-01-01T12:00:00.000Z"


def conforms(value: Any, definition: str) -> None:
    schema = {"$ref": f"#/definitions/{definition}", "definitions": OPENAPI["definitions"]}
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


def alert(alert_id: str, incident: str, **labels: str) -> dict[str, Any]:
    return {
        "id": alert_id,
        "incident_id": incident,
        "tenant": "t",
        "source": "alertmanager",
        "service": labels.get("service", ""),
        "severity": labels.get("severity", "warning"),
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": alert_id},
        "fingerprint": f"f-{alert_id}",
        "starts_at": "2026-01-01T11:00:00Z",
        "received_at": "2026-01-01T11:00:01Z",
        "ends_at": None,
        "reasons": [],
    }


# --- alerts and groups ----------------------------------------------------------------------

CONFIG = from_document(
    {
        "receivers": [
            {"name": name, "type": "webhook", "url": f"http://127.0.0.1:9/{name}"}
            for name in ("ops", "db", "audit")
        ],
        "route": {
            "receiver": "ops",
            "group_by": ["alertname"],
            "routes": [
                {"matchers": ["team=db"], "receiver": "db", "continue": True},
                {"matchers": ["team=~db|web"], "receiver": "audit", "group_by": ["team"]},
            ],
        },
    }
)


def test_an_alert_of_two_routes_is_in_two_groups_and_lists_both_receivers() -> None:
    a1, a2 = alert("a1", "i1", alertname="Slow", team="db"), alert("a2", "i2", alertname="Up")
    statuses = {a["id"]: alert_status(a, []) for a in (a1, a2)}
    groups = alert_groups({"i1": [a1], "i2": [a2]}, CONFIG, statuses, AlertFilter())
    conforms(groups, "alertGroups")
    shown = [
        (g["labels"], g["receiver"]["name"], [a["fingerprint"] for a in g["alerts"]])
        for g in groups
    ]
    assert shown == [  # Alertmanager's order: LabelSet.Before (a set lacking a name first)
        ({"team": "db"}, "audit", ["f-a1"]),
        ({"alertname": "Slow"}, "db", ["f-a1"]),
        ({"alertname": "Up"}, "ops", ["f-a2"]),
    ]
    assert [r["name"] for r in groups[0]["alerts"][0]["receivers"]] == ["audit", "db"]


def test_the_receiver_filter_keeps_matching_groups_only() -> None:
    a1 = alert("a1", "i1", alertname="Slow", team="db")
    statuses = {"a1": alert_status(a1, [])}
    keep = AlertFilter(receiver=lambda name: name == "audit")
    (group,) = alert_groups({"i1": [a1]}, CONFIG, statuses, keep)
    assert group["receiver"] == {"name": "audit"}


def test_silenced_and_inhibited_alerts_follow_the_flags() -> None:
    plain = alert("a1", "i1", alertname="A")
    inhibited = {**alert("a2", "i1", alertname="B"), "reasons": ["inhibited by alert src1"]}
    silenced_status = alert_status(plain, ["s1"])
    inhibited_status = alert_status(inhibited, [])
    assert inhibited_status == {"state": "suppressed", "silencedBy": [], "inhibitedBy": ["src1"]}
    assert AlertFilter(silenced=False).keeps(plain, silenced_status) is False
    assert AlertFilter(inhibited=False).keeps(inhibited, inhibited_status) is False
    assert AlertFilter(active=False).keeps(plain, alert_status(plain, [])) is False
    assert AlertFilter(active=False).keeps(plain, silenced_status) is True
    assert AlertFilter().keeps({**plain, "status": "resolved"}, alert_status(plain, [])) is False


def test_filter_matchers_see_what_silences_and_routes_see() -> None:
    a = alert("a1", "i1", alertname="A")
    assert AlertFilter(matchers=(parse_matcher("tenant=t"),)).keeps(a, alert_status(a, []))
    assert not AlertFilter(matchers=(parse_matcher("alertname=B"),)).keeps(a, alert_status(a, []))


def test_gettable_alert_of_a_resolved_alert_shows_its_end() -> None:
    a = {**alert("a1", "i1", alertname="A"), "status": "resolved", "ends_at": "2026-01-01T11:30Z"}
    shown = gettable_alert(a, ["ops"], alert_status(a, []))
    conforms(shown, "gettableAlert")
    assert shown["endsAt"] == "2026-01-01T11:30:00.000Z"
    firing = gettable_alert(alert("a2", "i1", alertname="B"), [], alert_status({}, []))
    assert firing["endsAt"] == ZERO_TIME and "generatorURL" not in firing


# --- silences -------------------------------------------------------------------------------


def postable(**fields: Any) -> dict[str, Any]:
    body = {
        "matchers": [{"name": "job", "value": "db", "isRegex": False, "isEqual": True}],
        "startsAt": NOW,
        "endsAt": "2026-01-01T14:00:00Z",
        "createdBy": "ann",
        "comment": "migration",
    }
    return {**body, **fields}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({**postable(), "comment": None}, "comment in body is required"),
        (postable(matchers=[]), "at least one matcher is required"),
        (postable(matchers=[{"name": "job", "value": "db"}]), "isRegex are required"),
        (
            postable(matchers=[{"name": "a-b", "value": "x", "isRegex": False}]),
            "invalid label name",
        ),
        (postable(matchers=[{"name": "a", "value": "(", "isRegex": True}]), "error parsing regexp"),
        (
            postable(matchers=[{"name": "a", "value": ".*", "isRegex": True}]),
            "at least one matcher must not match the empty string",
        ),
        (
            postable(matchers=[{"name": "a", "value": "", "isRegex": False}]),
            "at least one matcher must not match the empty string",
        ),
        (postable(endsAt=NOW), "must be after starts_at"),
        (
            postable(startsAt="2026-01-01T08:00:00Z", endsAt="2026-01-01T09:00:00Z"),
            "end time can't be in the past",
        ),
    ],
)
def test_invalid_silences_are_refused_as_alertmanager_refuses_them(body: Any, says: str) -> None:
    with pytest.raises(SilenceError) as refused:
        set_silence(body, {}, NOW)
    assert says in str(refused.value)


def test_a_negative_matcher_may_match_the_empty_string() -> None:
    body = postable(matchers=[{"name": "env", "value": "prod", "isRegex": False, "isEqual": False}])
    silence, _ = set_silence(body, {}, NOW)
    assert silence["matchers"][0]["isEqual"] is False


def test_an_unknown_id_is_not_found_and_an_id_is_a_string() -> None:
    with pytest.raises(SilenceNotFound):
        set_silence(postable(id="nope"), {}, NOW)
    with pytest.raises(SilenceError, match="id: expected a string"):
        set_silence(postable(id={"a": 1}), {}, NOW)


def test_updates_in_place_or_replace_as_alertmanager_does() -> None:
    made, _ = set_silence(postable(), {}, NOW)
    stored = {made["id"]: made}
    # Active: a new comment or a later end keeps the id.
    kept, replaced = set_silence({**postable(comment="longer", id=made["id"])}, stored, NOW)
    assert (kept["id"], kept["comment"], replaced) == (made["id"], "longer", None)
    # A change of start while active expires it and makes a new one.
    moved, replaced = set_silence(
        postable(id=made["id"], startsAt="2026-01-01T13:00:00Z"), stored, NOW
    )
    assert moved["id"] != made["id"] and moved["starts_at"] == "2026-01-01T13:00:00.000Z"
    assert replaced is not None and replaced["ends_at"] == NOW
    # An expired silence is never changed: posting its id makes a new one.
    expired = {**made, "ends_at": "2026-01-01T11:00:00Z", "starts_at": "2026-01-01T10:00:00Z"}
    again, replaced = set_silence(postable(id=made["id"]), {made["id"]: expired}, NOW)
    assert again["id"] != made["id"] and replaced is None


def test_pending_silences_may_move_their_start_but_not_into_the_past() -> None:
    later = postable(startsAt="2026-01-01T13:00:00Z")
    made, _ = set_silence(later, {}, NOW)
    stored = {made["id"]: made}
    moved, replaced = set_silence(
        {**later, "id": made["id"], "startsAt": "2026-01-01T13:30:00Z"}, stored, NOW
    )
    assert moved["id"] == made["id"] and replaced is None
    past, replaced = set_silence(
        {**later, "id": made["id"], "startsAt": "2026-01-01T11:00:00Z"}, stored, NOW
    )
    assert past["id"] != made["id"] and past["starts_at"] == NOW and replaced is not None


def silence(silence_id: str, starts: str, ends: str, *matchers: str) -> Silence:
    return {
        "id": silence_id,
        "matchers": [parse_matcher(m).as_api() for m in matchers],
        "starts_at": starts,
        "ends_at": ends,
        "created_by": "ann",
        "comment": "",
        "updated_at": starts,
    }


def test_silences_are_listed_in_alertmanagers_order_and_filtered_by_equal_matchers() -> None:
    found = filtered(
        [
            silence("expired-old", "2026-01-01T00:00Z", "2026-01-01T01:00Z", "job=db"),
            silence("expired-new", "2026-01-01T00:00Z", "2026-01-01T02:00Z", "job=db"),
            silence("pending-late", "2026-01-01T15:00Z", "2026-01-01T16:00Z", "job=db"),
            silence("pending-soon", "2026-01-01T13:00Z", "2026-01-01T16:00Z", "job=db"),
            silence("active-long", "2026-01-01T11:00Z", "2026-01-01T18:00Z", "job=db"),
            silence("active-short", "2026-01-01T11:00Z", "2026-01-01T13:00Z", "job=db", "x=~y"),
            silence("other", "2026-01-01T11:00Z", "2026-01-01T13:00Z", 'job=~"db"'),
        ],
        [parse_matcher("job=db")],
        epoch_ms(NOW),
    )
    conforms(found, "gettableSilences")
    assert [s["id"] for s in found] == [
        "active-short",
        "active-long",
        "pending-soon",
        "pending-late",
        "expired-new",
        "expired-old",
    ]


def test_gettable_silence_conforms() -> None:
    shown = gettable_silence(silence("s", NOW, "2026-01-01T13:00Z", 'a!~"b"'), epoch_ms(NOW))
    conforms(shown, "gettableSilence")
    assert shown["matchers"] == [{"isEqual": False, "isRegex": True, "name": "a", "value": "b"}]


# --- status and receivers -------------------------------------------------------------------


def test_config_original_masks_every_secret_of_an_alertmanager_file() -> None:
    text = (FIXTURES / "alertmanager.yml").read_text()
    shown = original(yaml.safe_load(text), {"api_token": "never-shown", "notify": {}})
    for secret in (
        "T000/B000/XXXX",
        "abcdef0123456789",
        "example.webhook.office",
        "payments.example.org",
        "discord.com/api",
        "never-shown",
    ):
        assert secret in text or secret == "never-shown"
        assert secret not in shown, secret
    parsed = yaml.safe_load(shown)
    assert parsed["global"]["slack_api_url"] == parsed["global"]["smtp_auth_password"] == SECRET
    assert parsed["route"] == yaml.safe_load(text)["route"]  # the rest as written
    assert parsed["notify"] == {} and "api_token" not in parsed
    conforms(status(shown, NOW), "alertmanagerStatus")


def test_receivers_are_the_configurations_names() -> None:
    assert receivers(CONFIG) == [{"name": "ops"}, {"name": "db"}, {"name": "audit"}]
    for receiver in receivers(CONFIG):
        conforms(receiver, "receiver")
