"""The figures of ``make eval-ait``: alertflow and Alertmanager on each AIT scenario, side by side.

For each scenario: alertflow with IDS alerts mapped as a sender would post them (``alerts``:
the labels are the identity, dedup counts re-fires), alertflow with every IDS alert an alert of
its own (``events``: dedup hides nothing, as the issue measured correlation), and Alertmanager
(``group_by: [alertname, host]``). Grouping is scored on the attack alerts (ARI, pair
precision / recall / F1, incidents per true incident); notifications with the README's operator
(precision whole and per half, steps reached, reduction). For the ``alerts`` mapping the best
ARI any grouping of its alerts could reach is shown too: every IDS alert counted into one alert
(a rule's re-fires on a host within the resolve timeout) shares its incident.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from app.ait import alertmanager, stream
from app.ait.replay import replay
from app.ait.score import Figures, grouping, notifications

COLUMNS = ("alerts", "events", "alertmanager")


@dataclass
class Scenario:
    """The figures of one scenario, per column."""

    name: str
    alerts: int
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, dict[str, int]] = field(default_factory=dict)


def evaluate(name: str, events: list[stream.Event], columns: tuple[str, ...] = COLUMNS) -> Scenario:
    """Replay one scenario for each column and score it."""
    truth = stream.true_incidents(events)
    steps = [e.step for e in events]
    span = (events[0].at_ms, events[-1].at_ms)
    found = Scenario(name, len(events))
    for column in columns:
        if column == "alertmanager":
            sent, incident_of = alertmanager.replay(events)
            extra: dict[str, Any] = {}
        else:
            result = replay(events, column)
            sent, incident_of = result.notifications, result.incident_of
            extra = {"alerts_passed": result.alerts, "decisions": result.decisions}
            if column == "alerts":
                extra["ari_bound"] = grouping(truth, _best(truth, result.alert_of))["ari"]
        figures: Figures = notifications(sent, steps, len(events), span)
        found.columns[column] = {**grouping(truth, incident_of), **figures.paging, **extra}
        found.steps[column] = figures.steps
    return found


def _best(truth: list[str | None], alert_of: list[str]) -> list[str]:
    """The grouping that puts each alert's IDS alerts in the true incident most of them have."""
    votes: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for true, alert in zip(truth, alert_of, strict=True):
        if true is not None:
            votes[alert][true] += 1
    return [votes[a].most_common(1)[0][0] if votes[a] else a for a in alert_of]


ROWS = (
    ("IDS alerts", "ids"),
    ("alerts after dedup", "alerts_passed"),
    ("ARI (attack alerts)", "ari"),
    ("  best ARI of these alerts", "ari_bound"),
    ("pair precision", "pair_precision"),
    ("pair recall", "pair_recall"),
    ("pair F1", "pair_f1"),
    ("incidents per attack episode", "incidents_per_episode"),
    ("incidents with attack alerts", "attack_incidents"),
    ("notifications", "notifications"),
    ("  of them pages (not resolves)", "pages"),
    ("precision", "precision"),
    ("precision, 1st half", "precision_first_half"),
    ("precision, 2nd half", "precision_second_half"),
    ("steps reached (recall)", "recall"),
    ("reduction (IDS alerts / notif.)", "reduction"),
)
HEADINGS = {
    "alerts": "alertflow",
    "events": "alertflow, 1 alert/event",
    "alertmanager": "Alertmanager",
}


def table(scenario: Scenario) -> str:
    """The scenario's figures as a text table, then notifications per attack step."""
    columns = list(scenario.columns)
    width = 26
    lines = [
        f"== {scenario.name}",
        f"{'':34}" + "".join(f"{HEADINGS[c]:>{width}}" for c in columns),
    ]
    for label, key in ROWS:
        cells = [scenario.alerts if key == "ids" else scenario.columns[c].get(key) for c in columns]
        lines.append(f"{label:34}" + "".join(f"{_cell(v, key):>{width}}" for v in cells))
    lines.append("notifications carrying each attack step (0: nobody heard of it)")
    for step in scenario.steps[columns[0]]:
        cells = [scenario.steps[c].get(step, 0) for c in columns]
        lines.append(f"  {step:32}" + "".join(f"{v:>{width}}" for v in cells))
    return "\n".join(lines)


def _cell(value: Any, key: str) -> str:
    """A figure as the table shows it.

    >>> _cell(None, "ari"), _cell(0.12345, "ari"), _cell(482.6, "reduction"), _cell(15.8, "x")
    ('-', '0.123', '483×', '15.8')
    """
    if value is None:
        return "-"
    if key == "reduction":
        return f"{value:.0f}×"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)
