"""alertflow on an AIT scenario, in event time, with the README's operator.

Each IDS alert goes through the stages' own rules (:class:`app.pipeline.Pipeline`: dedup,
triage, correlation, the tenant-wide merges; a tick of dedup's clock each minute of event
time), what comes out through the notify stage's paging rule (:class:`app.ait.notifier.Notifier`),
and each notification to the operator: ``delay`` later they acknowledge every alert it lists
when it carries an attack alert, else resolve them as noise (``actionable: false``) — the
README's operator, through the per-alert endpoints. Feedback becomes labels as the labels join
does it (:func:`app.learning.labels.join`: the first feedback on an alert, on the features it
was scored with; a paged alert that resolved by itself before anyone answered is weak noise)
and the tenant's model learns them as triage does (``learning.examples``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from app.ait import stream
from app.ait.notifier import Notifier, Told, carried
from app.ait.score import Notification
from app.config import Config
from app.identity import episode_key
from app.learning.labels import FEEDBACK, OBSERVATIONS, Joined, LabelPolicy, join, observation
from app.learning.model import Learner
from app.learning.scoring import Thresholds
from app.pipeline import Pipeline
from app.records import Alert, ms_time
from app.sources import normalize
from app.triage.routing import Snapshot

TENANT = "ait"
MINUTE_MS = 60_000
DEFAULT_THRESHOLDS, DEFAULT_POLICY = Thresholds(), LabelPolicy()


@dataclass(frozen=True)
class Operator:
    """The person who answers notifications (``learn``: False replays without feedback)."""

    delay_ms: int = 10 * 60_000
    learn: bool = True


DEFAULT_OPERATOR = Operator()


@dataclass
class Result:
    """What one replay produced."""

    notifications: list[Notification] = field(default_factory=list)
    incident_of: list[str] = field(default_factory=list)  # per IDS alert, after every merge
    alert_of: list[str] = field(default_factory=list)  # per IDS alert: the alert it went into
    alerts: int = 0  # firing alerts dedup passed (episodes)
    decisions: dict[str, int] = field(default_factory=dict)
    learner: Learner | None = None
    pipeline: Pipeline | None = None


def replay(
    events: list[stream.Event],
    mode: str = "alerts",
    operator: Operator = DEFAULT_OPERATOR,
    config: Config | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    policy: LabelPolicy = DEFAULT_POLICY,
) -> Result:
    """Replay ``events`` (one scenario) and collect what was sent and where each alert went."""
    pipeline = Pipeline(Snapshot(config or Config(), thresholds), thresholds.notify)
    notifier = Notifier()
    result = Result(pipeline=pipeline)
    alert_of: list[str] = []  # per IDS alert: the alert (episode) it was counted into
    incident_of_alert: dict[str, str] = {}
    events_of: dict[str, list[tuple[int, int]]] = {}  # alert id → [(ms, IDS alert index)]
    steps = [e.step for e in events]
    feedback: list[tuple[int, int, dict[str, Any]]] = []
    joined: dict[str, Joined] = {}
    offsets = {OBSERVATIONS: 0, FEEDBACK: 0}
    answered = 0
    minute = 0

    def absorb(alert_id: str, record: Any, topic: str) -> None:
        offsets[topic] += 1
        joined[alert_id], examples = join(
            joined.get(alert_id), record, topic, offsets[topic], policy
        )
        if operator.learn:
            pipeline.learn(examples)

    def take(out: tuple[list[Alert], list[tuple[str, dict[str, Any]]]], now: int) -> None:
        correlated, merges = out
        for absorbed, merge in merges:
            notifier.merge(absorbed, merge["into"], now)
        for alert in correlated:
            incident_of_alert.setdefault(alert["id"], alert["incident_id"] or "")
            if alert["status"] == "firing":
                result.alerts += 1
                decision = alert["decision"] or ""
                result.decisions[decision] = result.decisions.get(decision, 0) + 1
            absorb(alert["id"], observation(alert), OBSERVATIONS)
            notifier.alert(alert, now)

    def answer(until: int) -> None:
        nonlocal answered
        for told in notifier.sent[answered:]:
            if told.kind != "resolved":
                _schedule(told, carried(told, events_of), steps, operator, feedback)
        answered = len(notifier.sent)
        while feedback and feedback[0][0] <= until:
            _, _, record = heapq.heappop(feedback)
            absorb(record["alert_id"], record, FEEDBACK)

    for event in events:
        while minute and minute + MINUTE_MS <= event.at_ms:  # dedup's ticks on quiet minutes
            minute += MINUTE_MS
            answer(minute)
            take(pipeline.advance(minute), minute)
        minute = minute or event.at_ms
        answer(event.at_ms)
        alert = normalize(stream.raw(event, mode, TENANT))
        out = pipeline.send(alert)
        episode = pipeline.dedup_rows.get(episode_key(TENANT, alert["fingerprint"]))
        alert_of.append(episode["alert_id"])
        events_of.setdefault(episode["alert_id"], []).append((event.at_ms, event.index))
        take(out, event.at_ms)
    end = events[-1].at_ms if events else 0
    for later in range(end + MINUTE_MS, end + 30 * MINUTE_MS, MINUTE_MS):  # the last timeouts
        take(pipeline.advance(later), later)
        notifier.advance(later)
    answer(2**62)
    result.notifications = [carried(told, events_of) for told in notifier.sent]
    result.incident_of = [
        pipeline.incident_of(incident_of_alert.get(alert_id, alert_id)) for alert_id in alert_of
    ]
    result.alert_of = alert_of
    result.learner = pipeline.triage.learners().get(TENANT)
    return result


def _schedule(
    told: Told,
    notification: Notification,
    steps: list[str | None],
    operator: Operator,
    feedback: list[tuple[int, int, dict[str, Any]]],
) -> None:
    """The operator's answer to one notification: every alert it lists acknowledged when it
    carries an attack alert, else resolved as noise."""
    attack = any(steps[e] is not None for e in notification.events)
    moment = told.at_ms + operator.delay_ms
    for alert_id in told.alerts:
        record = {
            "alert_id": alert_id,
            "incident_id": told.incident,
            "kind": "ack" if attack else "resolve",
            "actionable": attack,
            "by": "operator",
            "at": ms_time(moment),
        }
        heapq.heappush(feedback, (moment, len(feedback), record))
