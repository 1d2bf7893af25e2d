"""What an incident owes its receivers, and the notification log (app.notify.plan, nflog)."""

from __future__ import annotations

from typing import Any

from app.notify import nflog
from app.notify.incident import Incident, change, fold
from app.notify.plan import plan
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


class Alerts:
    """An incident built the way the stage builds it: by folding its alerts' changes."""

    def __init__(self, labels: dict[str, str], **firing: bool) -> None:
        self.labels = labels
        self.state: dict[str, list[Any]] = {}
        self.head: Incident | None = None
        for alert_id, muted in (firing or {"a1": False}).items():
            self.set(alert_id, "firing", muted)

    def set(self, alert_id: str, status: str, muted: bool = False, at_ms: int = 0) -> Incident:
        was = self.state.get(alert_id)
        self.state[alert_id] = [status, muted]
        found = change(alert_id, was, [status, muted], at_ms=at_ms, incident_id="i1")
        self.head = fold(self.head, {**found, "labels": self.labels})
        return self.head

    def planned(self, now_ms: int) -> tuple[list[Any], int | None]:
        assert self.head is not None
        self.head, sends, due = plan(self.head, CONFIG, now_ms)
        return sends, due


def test_routes_pick_receivers_and_continue_adds_the_next_match() -> None:
    incident = Alerts({"team": "db", "severity": "critical"})
    sends, due = incident.planned(0)
    assert [s.receiver for s in sends] == ["webhook"]  # db waits 30 s (group_wait)
    assert due == 30 * SEC
    sends, _ = incident.planned(30 * SEC)
    assert sorted(s.receiver for s in sends) == ["db-chat", "db-pager"]
    assert Alerts({"team": "web"}).planned(0)[0][0].receiver == "webhook"


def test_nothing_pages_before_the_incident_does() -> None:
    incident = Alerts({}, a1=True)  # muted: it pages nobody
    assert incident.head is not None and incident.head["paged_ms"] is None
    assert incident.planned(10**9) == ([], None)


def test_updates_say_what_changed_and_wait_for_the_group_interval() -> None:
    incident = Alerts({})
    incident.planned(0)
    incident.set("a2", "firing", at_ms=SEC)
    incident.set("a3", "firing", at_ms=SEC)
    sends, due = incident.planned(60 * SEC)
    assert sends == [] and due == 300 * SEC
    incident.set("a1", "resolved", at_ms=2 * SEC)
    (update,), due = incident.planned(300 * SEC)
    assert (update.change, update.added, update.resolved) == ("update", ("a2", "a3"), ("a1",))
    assert due is None
    assert incident.planned(900 * SEC)[0] == [], "no change, no repeat on this route: nothing"


def test_an_alert_that_came_and_went_between_two_notifications_is_no_news() -> None:
    incident = Alerts({})
    incident.planned(0)
    incident.set("a2", "firing")
    incident.set("a2", "resolved")
    assert incident.planned(600 * SEC) == ([], None)


def test_the_same_incident_state_gives_the_same_update_state() -> None:
    incident = Alerts({})
    incident.planned(0)
    incident.set("a2", "firing")
    assert incident.head is not None
    _, (first,), _ = plan(incident.head, CONFIG, 300 * SEC)
    _, (replayed,), _ = plan(incident.head, CONFIG, 301 * SEC)
    assert first.state == replayed.state and first.state.startswith("update:")


def test_repeat_interval_resends_an_unchanged_incident_until_acknowledged() -> None:
    incident = Alerts({"team": "db"})
    incident.planned(30 * SEC)
    sends, _ = incident.planned(3630 * SEC)
    assert sorted((s.receiver, s.change) for s in sends) == [
        ("db-chat", "repeat"),
        ("db-pager", "repeat"),
    ]
    assert incident.head is not None
    incident.head["acknowledged"] = {"kind": "ack", "by": "ann", "at": "T"}
    sends, _ = incident.planned(3700 * SEC)
    assert sorted((s.receiver, s.state) for s in sends) == [
        ("db-chat", "acknowledged"),
        ("db-pager", "acknowledged"),
    ]
    assert incident.planned(9999 * SEC) == ([], None), "no repeats once acknowledged"


def test_muted_alerts_are_left_out_and_resolved_follows_the_route() -> None:
    incident = Alerts({})
    incident.planned(0)
    incident.set("a2", "firing", muted=True)
    assert incident.planned(600 * SEC)[0] == [], "a muted alert is no news"
    incident.set("a1", "resolved")
    incident.set("a2", "resolved", muted=True)
    (resolved,), _ = incident.planned(700 * SEC)
    assert resolved.state == "resolved" and resolved.resolved == ("a1",)

    db = Alerts({"team": "db", "severity": "critical"})
    db.planned(30 * SEC)
    assert db.head is not None and sorted(db.head["told"]) == ["db-chat", "db-pager", "webhook"]
    db.set("a1", "resolved", muted=True)
    sends, _ = db.planned(60 * SEC)
    assert [s.receiver for s in sends] == ["webhook"], "db says send_resolved_when_muted: false"


def test_a_receiver_never_told_is_not_sent_a_resolved() -> None:
    incident = Alerts({"team": "db"})
    incident.set("a1", "resolved")
    assert incident.planned(0)[0] == []


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
