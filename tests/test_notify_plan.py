"""What an incident owes its receivers, and the notification log (app.dispatch, app.nflog)."""

from __future__ import annotations

from app import nflog
from app.dispatch import plan
from tests.configs import config_of

SEC = 1000
RECEIVERS = ("webhook", "db-pager", "db-chat")
CONFIG = config_of(
    {
        "routes": {
            "receiver": "webhook",
            "group_interval": "5m",
            "routes": [
                {
                    "matchers": ['team="db"'],
                    "receivers": ["db-pager", "db-chat"],
                    "group_wait": "30s",
                    "repeat_interval": "1h",
                    "send_resolved_when_muted": False,
                    "continue": True,
                },
                {"matchers": ['severity="critical"'], "receiver": "webhook"},
            ],
        }
    },
    *RECEIVERS,
)


def _incident(labels: dict[str, str], **changes: object) -> dict:
    return {
        "alerts": {"a1": "firing"},
        "muted": {},
        "labels": labels,
        "paged_ms": 0,
        "acknowledged": None,
        "told": {},
        "escalated": 0,
        **changes,
    }


def test_routes_pick_receivers_and_continue_adds_the_next_match() -> None:
    incident = _incident({"team": "db", "severity": "critical"})
    incident, sends, due = plan(incident, CONFIG, 0)
    assert [s.receiver for s in sends] == ["webhook"]  # db waits 30 s (group_wait)
    assert due == 30 * SEC
    incident, sends, _ = plan(incident, CONFIG, 30 * SEC)
    assert sorted(s.receiver for s in sends) == ["db-chat", "db-pager"]
    assert plan(_incident({"team": "web"}), CONFIG, 0)[1][0].receiver == "webhook"


def test_nothing_pages_before_the_incident_does() -> None:
    assert plan(_incident({}, paged_ms=None), CONFIG, 10**9)[1:] == ([], None)


def test_updates_say_what_changed_and_wait_for_the_group_interval() -> None:
    incident, _, _ = plan(_incident({}), CONFIG, 0)
    incident["alerts"] = {"a1": "firing", "a2": "firing", "a3": "firing"}
    incident, sends, due = plan(incident, CONFIG, 60 * SEC)
    assert sends == [] and due == 300 * SEC
    incident["alerts"] = {"a1": "resolved", "a2": "firing", "a3": "firing"}
    incident, (update,), due = plan(incident, CONFIG, 300 * SEC)
    assert (update.change, update.added, update.resolved) == ("update", ("a2", "a3"), ("a1",))
    assert due is None
    _, sends, _ = plan(incident, CONFIG, 900 * SEC)
    assert sends == [], "no change, no repeat on this route: nothing"


def test_the_same_alerts_give_the_same_update_state() -> None:
    incident, _, _ = plan(_incident({}), CONFIG, 0)
    incident["alerts"] = {"a1": "firing", "a2": "firing"}
    _, (first,), _ = plan(incident, CONFIG, 300 * SEC)
    _, (replayed,), _ = plan(incident, CONFIG, 301 * SEC)
    assert first.state == replayed.state and first.state.startswith("update:")


def test_repeat_interval_resends_an_unchanged_incident_until_acknowledged() -> None:
    incident, _, _ = plan(_incident({"team": "db"}), CONFIG, 30 * SEC)
    incident, sends, _ = plan(incident, CONFIG, 3630 * SEC)
    assert sorted((s.receiver, s.change) for s in sends) == [
        ("db-chat", "repeat"),
        ("db-pager", "repeat"),
    ]
    incident["acknowledged"] = {"by": "ann"}
    incident, sends, _ = plan(incident, CONFIG, 3700 * SEC)
    assert sorted((s.receiver, s.state) for s in sends) == [
        ("db-chat", "acknowledged"),
        ("db-pager", "acknowledged"),
    ]
    assert plan(incident, CONFIG, 9999 * SEC)[1:] == ([], None), "no repeats once acknowledged"


def test_muted_alerts_are_left_out_and_resolved_follows_the_route() -> None:
    incident, _, _ = plan(_incident({}), CONFIG, 0)
    incident["alerts"] = {"a1": "firing", "a2": "firing"}
    incident["muted"] = {"a2": "silenced by s1"}
    assert plan(incident, CONFIG, 600 * SEC)[1] == [], "a muted alert is no news"
    incident["alerts"] = {"a1": "resolved", "a2": "resolved"}
    _, (resolved,), _ = plan(incident, CONFIG, 700 * SEC)
    assert resolved.state == "resolved" and resolved.resolved == ("a1",)

    db, _, _ = plan(_incident({"team": "db", "severity": "critical"}), CONFIG, 30 * SEC)
    assert sorted(db["told"]) == ["db-chat", "db-pager", "webhook"]
    db["alerts"] = {"a1": "resolved"}
    db["muted"] = {"a1": "silenced by s1"}
    _, sends, _ = plan(db, CONFIG, 60 * SEC)
    assert [s.receiver for s in sends] == ["webhook"], "db says send_resolved_when_muted: false"


def test_a_receiver_never_told_is_not_sent_a_resolved() -> None:
    incident = _incident({"team": "db"}, alerts={"a1": "resolved"})
    assert [s.receiver for s in plan(incident, CONFIG, 0)[1]] == []


def test_the_log_keys_one_entry_per_incident_receiver_and_state() -> None:
    key = nflog.key("i1", "db-pager", "firing")
    message = {"notification_id": nflog.notification_id("i1", "db-pager", "firing")}
    entry = nflog.started(message, now_ms=1_000)
    assert entry["status"] == "in_flight"
    assert nflog.finished(entry, message["notification_id"], ok=False, attempts=4)["status"] == (
        "failed"
    )
    done = nflog.finished(entry, message["notification_id"], ok=True, attempts=1)
    assert nflog.finished(done, message["notification_id"], ok=False, attempts=9) is done
    assert not nflog.orphaned(done, running=False, now_ms=10**9, resend_after_ms=1)
    assert nflog.orphaned(entry, running=False, now_ms=3_000, resend_after_ms=2_000)
    assert key == "i1|db-pager|firing"
    assert nflog.notification_id("i1", "db-pager", "resolved") != message["notification_id"]
