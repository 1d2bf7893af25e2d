"""The streams ``alertflow eval`` replays: what goes in, and whose models score it.

:class:`Simulated` — the generator of :mod:`app.simulation` through the agents' own rules
(:class:`app.pipeline.Pipeline`), learning in the pipeline's triage models; :class:`Scored` —
alerts that carry their incidents already (a recorded stream, :func:`recorded_stream`), scored
here with :func:`app.learning.scoring.score_alert`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from app.learning.model import Example, Learner, new_model
from app.learning.scoring import Thresholds, score_alert
from app.records import Alert, epoch_ms

DEFAULT_THRESHOLDS = Thresholds()

Truth = tuple[Alert, str, bool | None]  # (scored alert, true incident, actionable)


@dataclass(frozen=True)
class Step:
    """What one input became: the scored alerts with their truth, and the merges decided."""

    alerts: list[Truth]
    merges: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class Source(Protocol):
    """A stream the replay drives: inputs in event order, each sent when its time comes."""

    def inputs(self) -> Iterator[tuple[int, Callable[[], Step]]]:
        """``(event ms, send)`` per input; ``send()`` scores it (after earlier feedback)."""

    def learn(self, example: Example) -> None:
        """A label for the tenant's model."""

    def incident_of(self, incident_id: str) -> str:
        """The incident an incident is part of after the merges so far."""

    def learners(self) -> dict[str, Learner]:
        """The tenants' models."""


class Simulated:
    """The generator's stream through the agents' rules (:class:`app.pipeline.Pipeline`)."""

    def __init__(
        self,
        seed: int,
        days: float,
        tenants: tuple[str, ...],
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        model: str = "logistic",
    ) -> None:
        from app.config import Config
        from app.pipeline import Pipeline
        from app.triage.routing import Snapshot

        self.seed, self.days, self.tenants = seed, days, tenants
        self.pipeline = Pipeline(Snapshot(Config(), thresholds), thresholds.notify, model)

    def inputs(self) -> Iterator[tuple[int, Callable[[], Step]]]:
        from app.simulation import generate, raw_alert
        from app.sources import normalize

        for item in generate(seed=self.seed, hours=24 * self.days, tenants=self.tenants):

            def send(item: Any = item) -> Step:
                correlated, merges = self.pipeline.send(normalize(raw_alert(item)))
                return Step([(a, item.incident, item.actionable) for a in correlated], merges)

            yield epoch_ms(item.at), send

    def learn(self, example: Example) -> None:
        self.pipeline.learn([example])

    def incident_of(self, incident_id: str) -> str:
        return self.pipeline.incident_of(incident_id)

    def learners(self) -> dict[str, Learner]:
        return self.pipeline.triage.learners()


class Scored:
    """Alerts that carry their incidents already (a recorded stream), scored here."""

    def __init__(
        self,
        stream: Iterable[Truth],
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        model: str = "logistic",
    ) -> None:
        self.stream, self.thresholds, self.model = stream, thresholds, model
        self._learners: dict[str, Learner] = {}

    def inputs(self) -> Iterator[tuple[int, Callable[[], Step]]]:
        for alert, incident, actionable in self.stream:

            def send(
                alert: Alert = alert, incident: str = incident, real: Any = actionable
            ) -> Step:
                scored = score_alert(self._learner(alert["tenant"]), alert, self.thresholds)
                return Step([(scored, incident, real)])

            yield epoch_ms(alert["starts_at"]), send

    def learn(self, example: Example) -> None:
        self._learner(example["tenant"]).learn(example)

    def incident_of(self, incident_id: str) -> str:
        return incident_id

    def learners(self) -> dict[str, Learner]:
        return self._learners

    def _learner(self, tenant: str) -> Learner:
        if tenant not in self._learners:
            self._learners[tenant] = Learner(self.thresholds.notify, model=new_model(self.model))
        return self._learners[tenant]


def recorded_stream(
    enriched: Iterable[str], feedback: Iterable[str]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """A stream recorded with ``alertflow tail --from-beginning`` (``alerts.enriched`` and
    ``alerts.feedback``, one JSON record per line): the alerts in event order, each with its
    incident and the ``actionable`` of its first feedback (``None`` without), and the feedback.

    >>> alert = '{"id": "a1", "incident_id": "i1", "status": "firing", "reasons": ["x"],'
    >>> alert += ' "starts_at": "2026-01-01T00:00:00Z", "ends_at": null}'
    >>> said = '{"alert_id": "a1", "kind": "ack", "actionable": true, "by": "ann",'
    >>> said += ' "at": "2026-01-01T00:05:00Z"}'
    >>> stream, records = recorded_stream([alert], [said])
    >>> stream[0][1:], len(records)
    (('i1', True), 1)
    """
    records = [orjson.loads(line) for line in feedback if line.strip()]
    truth: dict[str, bool] = {}
    for record in records:
        truth.setdefault(record["alert_id"], bool(record["actionable"]))
    alerts = [orjson.loads(line) for line in enriched if line.strip()]
    alerts.sort(
        key=lambda a: epoch_ms(
            a["ends_at"] if a["status"] == "resolved" and a["ends_at"] else a["starts_at"]
        )
    )
    stream = [(alert, alert["incident_id"], truth.get(alert["id"])) for alert in alerts]
    return stream, records
