"""Labels: feedback joined with what the alert looked like when it was scored.

Per alert id, the join keeps the features the model saw (from ``learning.observations``) and
turns what people did (``alerts.feedback``) into training examples:

- acknowledged → actionable; resolved with ``actionable: false`` → noise; in general the label
  is the feedback's ``actionable`` (weight 1). The first piece of feedback on an alert labels it.
- an alert that paged (decision ``notify``) and resolves by itself within ``self_resolve_ms`` of
  its start, before anyone gave feedback, is weak evidence of noise (``self_resolve_weight``,
  source ``self_resolve``). Alerts that were digested or suppressed never get this label: nobody
  was asked, so nobody's silence means anything (else the model would confirm itself).
  Feedback that comes later still labels it, with full weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from app.learning.features import Features
from app.learning.model import Example
from app.records import Alert, Feedback, epoch_ms

OBSERVATIONS = "learning.observations"
FEEDBACK = "alerts.feedback"


class Observation(TypedDict):
    """Value of ``learning.observations`` (key: alert id): the alert as the model scored it."""

    alert_id: str
    tenant: str
    kind: str
    status: str
    features: Features
    score: float
    decision: str
    starts_at: str
    ends_at: str | None


def observation(alert: Alert) -> Observation:
    """What the model saw of a scored alert, as the labels join keeps it.

    >>> observation({"id": "a1", "tenant": "t", "status": "firing", "features": {"kind": "k"},
    ...              "score": None, "decision": None, "starts_at": "T", "ends_at": None})["kind"]
    'k'
    """
    features = alert.get("features") or {}
    return {
        "alert_id": alert["id"],
        "tenant": alert["tenant"],
        "kind": str(features.get("kind", "")),
        "status": alert["status"],
        "features": features,
        "score": alert["score"] or 0.0,
        "decision": alert["decision"] or "",
        "starts_at": alert["starts_at"],
        "ends_at": alert["ends_at"],
    }


class Joined(TypedDict):
    """What the ``observations`` table keeps per alert id."""

    observation: Observation | None  # the first scoring of the alert: the features it had
    pending: list[Feedback]  # feedback that came before its observation
    labelled: list[str]  # "human", "self_resolve": labels already given
    examples: list[Example]  # every example emitted, re-sent on a replay
    offsets: dict[str, int]  # input topic → last offset applied
    touched_ms: int  # when the entry last changed (event time), for expiry


@dataclass(frozen=True)
class LabelPolicy:
    """How weak evidence counts and how long the features are kept."""

    self_resolve_ms: int = 15 * 60_000
    self_resolve_weight: float = 0.3
    keep_ms: int = 7 * 24 * 3_600_000


def join(
    state: Joined | None,
    record: dict[str, Any],
    topic: str,
    offset: int,
    policy: LabelPolicy,
) -> tuple[Joined, list[Example]]:
    """The entry after one observation or one piece of feedback, and the examples to learn.

    A record at or before the entry's offset for its topic is a replay after a crash: every
    example of the entry is sent again (the score stage learns each id once), none is lost.

    >>> seen = {"alert_id": "a1", "tenant": "t", "kind": "Lag", "status": "firing",
    ...         "features": {"kind": "Lag"}, "score": 0.4, "decision": "notify",
    ...         "starts_at": "2026-01-01T00:00:00Z", "ends_at": None}
    >>> ack = {"alert_id": "a1", "kind": "ack", "actionable": True, "by": "ann",
    ...        "at": "2026-01-01T00:03:00Z"}
    >>> state, out = join(None, ack, FEEDBACK, 0, LabelPolicy())  # feedback first: waits
    >>> out, len(state["pending"])
    ([], 1)
    >>> state, out = join(state, seen, OBSERVATIONS, 0, LabelPolicy())
    >>> [(e["id"], e["label"], e["weight"]) for e in out]
    [('a1:human', True, 1.0)]
    >>> join(state, seen, OBSERVATIONS, 0, LabelPolicy())[1][0]["id"]  # a replay: sent again
    'a1:human'
    """
    if state is not None and offset <= state["offsets"].get(topic, -1):
        return state, state["examples"]
    state = state or {
        "observation": None,
        "pending": [],
        "labelled": [],
        "examples": [],
        "offsets": {},
        "touched_ms": 0,
    }
    state = {**state, "offsets": {**state["offsets"], topic: offset}}
    if topic == FEEDBACK:
        state["touched_ms"] = max(state["touched_ms"], epoch_ms(record["at"]))
        return _label(state, [record], policy)  # type: ignore[list-item]
    observation: Observation = record  # type: ignore[assignment]
    state["touched_ms"] = max(state["touched_ms"], _observed_ms(observation))
    first = state["observation"] is None
    if first:
        state["observation"] = observation
    state, examples = _label(state, state["pending"] if first else [], policy)
    weak = _self_resolved(state, observation, policy)
    if weak is not None:
        state = {**state, "labelled": [*state["labelled"], "self_resolve"]}
        state["examples"] = [*state["examples"], weak]
        examples = [*examples, weak]
    return state, examples


def expired(state: Joined, now_ms: int, policy: LabelPolicy) -> bool:
    """Whether an entry has outlived ``keep_ms`` since it last changed.

    >>> expired({"touched_ms": 0}, 8 * 24 * 3_600_000, LabelPolicy())
    True
    """
    return now_ms - state["touched_ms"] > policy.keep_ms


def _label(
    state: Joined, feedback: list[Feedback], policy: LabelPolicy
) -> tuple[Joined, list[Example]]:
    observation = state["observation"]
    if observation is None:
        return {**state, "pending": [*state["pending"], *feedback]}, []
    state = {**state, "pending": []}
    if "human" in state["labelled"] or not feedback:
        return state, []
    given = human_example(observation, feedback[0])
    state["labelled"] = [*state["labelled"], "human"]
    state["examples"] = [*state["examples"], given]
    return state, [given]


def _self_resolved(state: Joined, observation: Observation, policy: LabelPolicy) -> Example | None:
    first = state["observation"] or observation
    if observation["status"] != "resolved" or state["labelled"]:
        return None
    return self_resolve_example(first, observation["ends_at"] or observation["starts_at"], policy)


def self_resolve_example(first: Observation, ended: str, policy: LabelPolicy) -> Example | None:
    """The weak noise label of a page nobody answered that resolved by itself soon, if due.

    Only a page says "noise" by going unanswered: an alert that was digested or suppressed
    (``first["decision"]``, its first scoring's) says nothing.
    """
    if first["decision"] != "notify":
        return None
    if epoch_ms(ended) - epoch_ms(first["starts_at"]) > policy.self_resolve_ms:
        return None
    return example(first, "self_resolve", False, policy.self_resolve_weight, "self_resolve", ended)


def human_example(first: Observation, feedback: Feedback) -> Example:
    """The label a person's first feedback on an alert gives: its ``actionable``, weight 1."""
    return example(first, "human", feedback["actionable"], 1.0, feedback["kind"], feedback["at"])


def example(
    observation: Observation, tag: str, label: bool, weight: float, source: str, at: str
) -> Example:
    """The training example of one label on the features ``observation`` holds."""
    return {
        "id": f"{observation['alert_id']}:{tag}",
        "alert_id": observation["alert_id"],
        "tenant": observation["tenant"],
        "kind": observation["kind"],
        "features": observation["features"],
        "label": label,
        "weight": weight,
        "source": source,
        "at_ms": epoch_ms(at),
    }


def _observed_ms(observation: Observation) -> int:
    return epoch_ms(observation["ends_at"] or observation["starts_at"])
