"""Scoring and deciding through the real path: score_alert → labels join → learn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import from_document, group_labels, match
from app.learning.labels import FEEDBACK, OBSERVATIONS, LabelPolicy, Observation, join
from app.learning.model import Learner
from app.learning.scoring import Thresholds, route_thresholds, score_alert
from app.records import format_time

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class Team:
    """One tenant: its learner, and people answering what it scores."""

    def __init__(self) -> None:
        self.learner = Learner(0.35)
        self.offset = 0

    def score(self, alert: dict[str, Any]) -> dict[str, Any]:
        scored = score_alert(self.learner, alert, Thresholds())
        observation: Observation = {
            "alert_id": scored["id"],
            "tenant": scored["tenant"],
            "kind": str(scored["features"]["kind"]),
            "status": scored["status"],
            "features": scored["features"],
            "score": scored["score"],
            "decision": scored["decision"],
            "starts_at": scored["starts_at"],
            "ends_at": scored["ends_at"],
        }
        self._join(alert["id"], dict(observation), OBSERVATIONS)
        return scored

    def say(self, alert: dict[str, Any], actionable: bool) -> None:
        record = {
            "alert_id": alert["id"],
            "kind": "ack" if actionable else "resolve",
            "actionable": actionable,
            "by": "ann",
            "at": alert["starts_at"],
        }
        self._join(alert["id"], record, FEEDBACK)

    def _join(self, alert_id: str, record: dict[str, Any], topic: str) -> None:
        self.offset += 1
        state = self.states.get(alert_id)
        self.states[alert_id], examples = join(state, record, topic, self.offset, LabelPolicy())
        for example in examples:
            self.learner.learn(example)

    states: dict[str, Any]


def _alert(n: int, kind: str, severity: str = "warning", service: str = "web") -> dict[str, Any]:
    return {
        "id": f"{kind}-{n}",
        "tenant": "t",
        "source": "alertmanager",
        "status": "firing",
        "severity": severity,
        "service": service,
        "title": kind,
        "description": "",
        "labels": {"alertname": kind, "instance": f"host-{n}"},
        "template_id": None,
        "fingerprint": f"{kind}-{n}",
        "incident_id": f"incident-{kind}-{n}",
        "starts_at": format_time(START + timedelta(days=n)),
        "ends_at": None,
        "reasons": [],
    }


def _team() -> Team:
    team = Team()
    team.states = {}
    return team


def _teach(team: Team, rounds: int) -> None:
    for n in range(rounds):
        for kind, actionable in (("CpuSpike", False), ("DatabaseDown", True)):
            alert = _alert(n, kind)
            team.score(alert)
            team.say(alert, actionable)


def test_first_alert_of_a_kind_pages_and_says_why() -> None:
    scored = _team().score(_alert(0, "NeverSeen", severity="info"))
    assert scored["decision"] == "notify"
    assert "nobody has told the model" in scored["reasons"][-1]


def test_six_noise_labels_suppress_a_kind_and_acknowledged_kind_keeps_paging() -> None:
    team = _team()
    _teach(team, 6)
    noisy = team.score(_alert(20, "CpuSpike"))
    real = team.score(_alert(20, "DatabaseDown"))
    assert noisy["decision"] == "suppress", noisy["reasons"]
    assert "6 noise for CpuSpike" in noisy["reasons"][-1]
    assert real["decision"] == "notify" and real["score"] > 0.8


def test_critical_is_never_suppressed_by_the_model_alone() -> None:
    team = _team()
    _teach(team, 6)
    critical = team.score(_alert(21, "CpuSpike", severity="critical"))
    assert critical["score"] < 0.35, "the model would suppress it"
    assert critical["decision"] == "notify"
    assert "critical severity is never suppressed" in critical["reasons"][-1]


def test_a_kind_people_mostly_act_on_pages_whatever_the_context() -> None:
    team = _team()
    _teach(team, 6)
    odd = {**_alert(22, "DatabaseDown", service="batch"), "labels": {"alertname": "DatabaseDown"}}
    for n in range(30, 36):  # the same kind, noise in another service: the model learns it
        alert = _alert(n, "DatabaseDown", service="batch")
        team.score(alert)
        team.say(alert, False)
    scored = team.score(odd)
    stats = team.learner.kinds["DatabaseDown"]
    assert stats["actionable"] == 6 and stats["noise"] == 6
    assert scored["decision"] in ("notify", "digest")
    assert scored["decision"] != "suppress"


def test_between_thresholds_is_digest() -> None:
    team = _team()
    _teach(team, 4)
    scored = team.score(_alert(23, "CpuSpike"))
    assert 0.15 <= scored["score"] < 0.35, scored["score"]
    assert scored["decision"] == "digest"
    assert "goes to the digest" in scored["reasons"][-1]


def test_a_routes_thresholds_change_the_decision() -> None:
    team = _team()
    _teach(team, 4)
    tree = from_document(
        {
            "routes": {
                "routes": [
                    {"name": "lenient", "matchers": ['service="web"'], "notify_threshold": 0.1},
                    {"name": "strict", "matchers": ['service="batch"'], "digest_threshold": 0.9},
                ]
            }
        }
    ).route

    def decided(service: str) -> dict[str, Any]:
        alert = _alert(23, "CpuSpike", service=service)
        (route, *_) = match(tree, group_labels(alert))
        at = route_thresholds(route, Thresholds())
        return score_alert(team.learner, alert, at)

    default = team.score(_alert(23, "CpuSpike", service="api"))
    lenient, strict = decided("web"), decided("batch")
    assert default["decision"] == "digest", default["score"]
    assert 0.1 <= lenient["score"] < 0.35 and lenient["decision"] == "notify"
    assert strict["score"] < 0.9 and strict["decision"] == "suppress"
    assert "suppressed below 0.9" in strict["reasons"][-1]
