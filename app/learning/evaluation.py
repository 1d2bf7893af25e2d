"""``alertflow eval``: replay a stream with its feedback through the scoring and learning code.

A simulated stream (the generator of :mod:`app.simulation`) goes through the same functions as
the agents — :class:`app.pipeline.Pipeline`: dedup, triage (template, route, score with the
tenant's model), correlation and the tenant-wide merges — and the labels people give go back
into the pipeline's models as ``learning.examples`` would (the labels join of
:mod:`app.learning.labels` on the features triage stamped). A recorded stream (alerts that
carry their incidents) is scored here with the same :func:`app.learning.scoring.score_alert`.
Pages follow the rule of the notify stage: a firing incident (after merges) pages once, from
its first ``notify`` decision on, and says once more when it resolves. Feedback comes from a
simulated on-call person (:class:`OnCall`) who looks at each page after a delay and, alert by
alert (the per-alert endpoints), acknowledges what needs action and resolves most of the rest
as noise. Metrics are scikit-learn's.
"""

from __future__ import annotations

import argparse
import heapq
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from app.learning.labels import FEEDBACK, OBSERVATIONS, Joined, LabelPolicy, join, observation
from app.learning.model import Learner
from app.learning.scoring import Thresholds
from app.learning.streams import Scored, Simulated, Source, recorded_stream
from app.records import Alert, epoch_ms, ms_time
from app.settings import Settings

DAY_MS = 86_400_000
RECEIVER = "webhook"


@dataclass(frozen=True)
class OnCall:
    """The simulated person who answers pages."""

    delay_ms: int = 10 * 60_000  # looks at a page this long after it went out
    marks_noise: float = 0.8  # share of noise pages resolved with ``actionable: false``
    seed: int = 1


DEFAULT_POLICY, DEFAULT_ON_CALL = LabelPolicy(), OnCall()


@dataclass(frozen=True)
class Decided:
    """One alert as the replay decided it, with its ground truth."""

    at_ms: int
    tenant: str
    alert_id: str
    incident_id: str
    true_incident: str
    actionable: bool | None  # None: nobody said (a recorded stream without feedback on it)
    score: float
    decision: str
    status: str


@dataclass
class Replay:
    """Everything the replay measured."""

    scored: list[Decided] = field(default_factory=list)
    pages: list[tuple[int, str, bool]] = field(default_factory=list)  # (ms, incident, actionable)
    messages: int = 0  # notifications sent: pages and their resolves
    inputs: int = 0  # messages the senders posted
    feedback: int = 0
    learners: dict[str, Learner] = field(default_factory=dict)
    incident_of: Callable[[str], str] = lambda incident_id: incident_id


def replay(
    source: Source,
    policy: LabelPolicy = DEFAULT_POLICY,
    on_call: OnCall = DEFAULT_ON_CALL,
    recorded: list[dict[str, Any]] | None = None,
) -> Replay:
    """Score, notify and learn over ``source``; the ``recorded`` feedback, when given,
    replaces the on-call person."""
    result = Replay(incident_of=source.incident_of)
    rng = random.Random(on_call.seed)
    joined: dict[str, Joined] = {}
    incidents: dict[str, Any] = {}
    truth: dict[str, bool | None] = {}  # alert id → actionable
    due: list[tuple[int, int, dict[str, Any]]] = []  # (ms, order, feedback)
    for order, record in enumerate(recorded or []):
        heapq.heappush(due, (epoch_ms(record["at"]), order, record))
    offsets = {OBSERVATIONS: 0, FEEDBACK: 0}

    def absorb(alert_id: str, record: Any, topic: str) -> None:
        offsets[topic] += 1
        joined[alert_id], examples = join(
            joined.get(alert_id), record, topic, offsets[topic], policy
        )
        for example in examples:
            source.learn(example)

    def feedback_until(ms: int) -> None:
        while due and due[0][0] <= ms:
            _, _, record = heapq.heappop(due)
            result.feedback += 1
            absorb(record["alert_id"], record, FEEDBACK)

    for at, send in source.inputs():
        result.inputs += 1
        feedback_until(at)
        step = send()
        for absorbed, merge in step.merges:
            _merge_pages(incidents, absorbed, source.incident_of(merge["into"]))
        for alert, true_incident, actionable in step.alerts:
            _decided(result, source, alert, true_incident, actionable, truth, absorb)
            at = epoch_ms(alert["starts_at"])
            incident_id = source.incident_of(alert["incident_id"] or "")
            incident = _page_state(incidents.get(incident_id), alert)
            incidents[incident_id] = incident
            if incident["paged"] and not incident["told_firing"] and not _resolved(incident):
                incident["told_firing"] = True
                result.messages += 1
                real = any(truth.get(a) for a in incident["alerts"])
                result.pages.append((at, incident_id, real))
                if recorded is None:
                    _answer(incident_id, incident, truth, at, on_call, rng, due)
            if incident["told_firing"] and not incident["told_resolved"] and _resolved(incident):
                incident["told_resolved"] = True
                result.messages += 1
    feedback_until(2**62)
    result.learners = source.learners()
    return result


def _decided(
    result: Replay,
    source: Source,
    alert: Alert,
    true_incident: str,
    actionable: bool | None,
    truth: dict[str, bool | None],
    absorb: Callable[[str, Any, str], None],
) -> None:
    """Note a scored alert and hand what the model saw to the labels join."""
    truth[alert["id"]] = actionable
    absorb(alert["id"], observation(alert), OBSERVATIONS)
    result.scored.append(
        Decided(
            epoch_ms(alert["starts_at"]),
            alert["tenant"],
            alert["id"],
            source.incident_of(alert["incident_id"] or ""),
            true_incident,
            actionable,
            alert["score"] or 0.0,
            alert["decision"] or "",
            alert["status"],
        )
    )


def _merge_pages(incidents: dict[str, Any], absorbed: str, into: str) -> None:
    """An incident merged into another: what it paged and holds goes with it (as notify does)."""
    moved = incidents.pop(absorbed, None)
    if moved is None or absorbed == into:
        return
    kept = incidents.get(into)
    if kept is None:
        incidents[into] = moved
        return
    kept["alerts"] = {**moved["alerts"], **kept["alerts"]}
    for flag in ("paged", "told_firing"):
        kept[flag] = kept[flag] or moved[flag]


def _page_state(incident: dict[str, Any] | None, alert: Any) -> dict[str, Any]:
    """The paging rule of ``agents.notify``: a firing incident pages once, from its first
    ``notify`` on; a paged incident says so once more when all its alerts are resolved."""
    incident = incident or {
        "tenant": alert["tenant"],
        "alerts": {},
        "paged": False,
        "told_firing": False,
        "told_resolved": False,
    }
    incident["alerts"] = {**incident["alerts"], alert["id"]: alert["status"]}
    incident["paged"] = incident["paged"] or alert["decision"] == "notify"
    return incident


def _resolved(incident: dict[str, Any]) -> bool:
    return "firing" not in incident["alerts"].values()


def _answer(
    incident_id: str,
    incident: dict[str, Any],
    truth: dict[str, bool | None],
    at: int,
    on_call: OnCall,
    rng: random.Random,
    due: list[tuple[int, int, dict[str, Any]]],
) -> None:
    """What the on-call person does with a page: looks at each alert of the incident,
    acknowledges the ones that need action and resolves most others as noise."""
    moment = at + on_call.delay_ms
    for alert_id in incident["alerts"]:
        real = bool(truth.get(alert_id))
        if not real and rng.random() > on_call.marks_noise:
            continue  # ignored: no feedback at all
        record = {
            "alert_id": alert_id,
            "incident_id": incident_id,
            "kind": "ack" if real else "resolve",
            "actionable": real,
            "by": "on-call",
            "at": ms_time(moment),
        }
        heapq.heappush(due, (moment, len(due) + rng.randrange(1 << 30), record))


def curve(result: Replay, window_ms: int = DAY_MS) -> list[dict[str, Any]]:
    """Per window of event time: alerts, pages, page precision, alert recall and ROC AUC."""
    firing = [s for s in result.scored if s.status == "firing" and s.actionable is not None]
    if not firing:
        return []
    start = min(s.at_ms for s in firing)
    buckets: dict[int, list[Decided]] = defaultdict(list)
    for s in firing:
        buckets[(s.at_ms - start) // window_ms].append(s)
    pages: dict[int, list[bool]] = defaultdict(list)
    for at, _, real in result.pages:
        pages[(at - start) // window_ms].append(real)
    rows = []
    for index in sorted(buckets):
        group = buckets[index]
        truth = [bool(s.actionable) for s in group]
        said = [s.decision == "notify" for s in group]
        rows.append(
            {
                "window": index,
                "alerts": len(group),
                "pages": len(pages[index]),
                "page_precision": _mean(pages[index]),
                "alert_precision": float(precision_score(truth, said, zero_division=0)),
                "alert_recall": float(recall_score(truth, said, zero_division=0)),
                "roc_auc": _auc(truth, [s.score for s in group]),
                "suppressed": sum(s.decision == "suppress" for s in group),
                "digested": sum(s.decision == "digest" for s in group),
            }
        )
    return rows


def summary(result: Replay) -> dict[str, Any]:
    """The issue's figures: page precision first half vs second, real incidents paged, ratio."""
    pages = sorted(result.pages)
    if not pages:
        return {"pages": 0}
    middle = (min(s.at_ms for s in result.scored) + max(s.at_ms for s in result.scored)) // 2
    first = [real for at, _, real in pages if at < middle]
    second = [real for at, _, real in pages if at >= middle]
    paged_incidents = {result.incident_of(incident) for _, incident, _ in pages}
    real: defaultdict[str, bool] = defaultdict(bool)
    for s in result.scored:
        if s.actionable:
            real[s.true_incident] |= result.incident_of(s.incident_id) in paged_incidents
    firing = [s for s in result.scored if s.status == "firing"]
    known = [s for s in firing if s.actionable is not None]
    return {
        "inputs": result.inputs,
        "alerts": len(firing),
        "messages": result.messages,
        "pages": len(pages),
        "feedback": result.feedback,
        "page_precision_first_half": _mean(first),
        "page_precision_second_half": _mean(second),
        "real_incidents": len(real),
        "real_incidents_paged": sum(real.values()),
        "fewer_messages_than_inputs": round(result.inputs / max(result.messages, 1), 1),
        "fewer_messages_than_alerts": round(len(firing) / max(result.messages, 1), 1),
        "labelled_alerts": len(known),
        "roc_auc": _auc([bool(s.actionable) for s in known], [s.score for s in known]),
        "decisions": {
            d: sum(s.decision == d for s in firing) for d in ("notify", "digest", "suppress")
        },
        "models": {tenant: learner.report() for tenant, learner in result.learners.items()},
    }


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """A PNG: page precision, alert precision and recall, and pages per window, over time."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    days = [row["window"] + 1 for row in rows]
    figure, left = pyplot.subplots(figsize=(9, 4.5))
    for name, style in (
        ("page_precision", "o-"),
        ("alert_precision", "s--"),
        ("alert_recall", "^-"),
    ):
        left.plot(days, [row[name] for row in rows], style, label=name.replace("_", " "))
    left.set_ylim(0, 1.05)
    left.set_xlabel("day of the replay")
    left.set_ylabel("share")
    right = left.twinx()
    right.bar(days, [row["pages"] for row in rows], alpha=0.2, color="grey", label="pages per day")
    right.set_ylabel("pages per day")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles=handles, loc="lower right")
    left.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def _mean(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _auc(truth: list[bool], scores: list[float]) -> float | None:
    if len(set(truth)) < 2:
        return None
    return round(float(roc_auc_score(truth, scores)), 4)


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    """``alertflow eval``: replay, print the learning curve and the figures, write the plot."""
    thresholds = Thresholds(settings.notify_threshold, settings.digest_threshold)
    policy = LabelPolicy(
        self_resolve_ms=int(settings.self_resolve_minutes * 60_000),
        self_resolve_weight=settings.self_resolve_weight,
    )
    if args.enriched:
        if not args.feedback:
            raise SystemExit("alertflow eval: --enriched needs --feedback")
        with args.enriched.open() as enriched, args.feedback.open() as feedback:
            stream, recorded = recorded_stream(enriched, feedback)
        result = replay(Scored(stream, thresholds, args.model), policy, recorded=recorded)
        title = f"{args.enriched.name}: {args.model}"
    else:
        source = Simulated(args.seed, args.days, tuple(args.tenants), thresholds, args.model)
        result = replay(source, policy)
        title = f"simulated seed {args.seed}, {args.days:g} days: {args.model}"
    rows, figures = curve(result), summary(result)
    if rows:
        plot(rows, args.plot, title)
    if args.json:
        print(orjson.dumps({**figures, "curve": rows}).decode())
        return 0
    print(
        f"{'day':>4}{'alerts':>8}{'pages':>7}{'page prec':>11}{'precision':>11}"
        f"{'recall':>8}{'ROC AUC':>9}{'digest':>8}{'suppress':>10}"
    )
    for row in rows:
        print(
            f"{row['window'] + 1:>4}{row['alerts']:>8}{row['pages']:>7}"
            f"{_shown(row['page_precision']):>11}{row['alert_precision']:>11.3f}"
            f"{row['alert_recall']:>8.3f}{_shown(row['roc_auc']):>9}"
            f"{row['digested']:>8}{row['suppressed']:>10}"
        )
    for name, value in figures.items():
        if name != "models":
            print(f"{name}: {value}")
    if rows:
        print(f"plot: {args.plot}")
    return 0


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
