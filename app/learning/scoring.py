"""From an alert to its score, decision and reasons: the pure core of the score stage.

The decision is ``notify`` from the notify threshold up, ``digest`` from the digest threshold
up, ``suppress`` below — except that the model alone never suppresses (nor digests) an alert
that its labels do not speak for: of ``critical`` severity; of a kind nobody has labelled yet;
of a kind that fires on its service for the first time, or after a silence there longer than a
day and than any before (:mod:`app.learning.novelty`: what people said of the kind elsewhere or
earlier is no evidence that *this* is noise — the model must not learn "everything from this
host is noise" and then miss the attack on that host); or of a kind people act on more often
than not. People must trust it first, and what they act on keeps paging.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.config.durations import words
from app.config.routes import Route
from app.learning.features import KindStats, ack_ratio, features, kind_of
from app.learning.model import Learner
from app.learning.novelty import NOT_NEWS, Quiet
from app.records import Alert, Decision, epoch_ms

ACTED_ON = 0.5  # a kind people act on at least this often (Beta-smoothed) always pages


@dataclass(frozen=True)
class Thresholds:
    """Where scores turn into decisions, for one route."""

    notify: float = 0.35
    digest: float = 0.15
    route: str = "default"


def route_thresholds(route: Route, default: Thresholds) -> Thresholds:
    """The route's ``notify_threshold`` / ``digest_threshold`` where it sets them.

    A value the route sets wins; the default of the other one gives way so that the digest
    threshold never exceeds the notify threshold.

    >>> route_thresholds(Route(name="db", notify_threshold=0.6), Thresholds())
    Thresholds(notify=0.6, digest=0.15, route='db')
    >>> route_thresholds(Route(name="web", notify_threshold=0.1), Thresholds())
    Thresholds(notify=0.1, digest=0.1, route='web')
    >>> route_thresholds(Route(name="root"), Thresholds())
    Thresholds(notify=0.35, digest=0.15, route='default')
    """
    notify, digest = route.notify_threshold, route.digest_threshold
    if notify is None and digest is None:
        return default
    if notify is None:
        notify = max(default.notify, digest or 0.0)
    if digest is None:
        digest = min(default.digest, notify)
    return Thresholds(notify, digest, route.name)


def decide(
    score: float,
    alert: Alert,
    kind: str,
    stats: KindStats | None,
    at: Thresholds,
    quiet: Quiet = NOT_NEWS,
) -> tuple[Decision, str]:
    """The decision for a score, and why, in words; ``stats`` is what people said of the kind,
    ``quiet`` how long the kind had been quiet on the alert's service.

    >>> noise = {"actionable": 0.0, "noise": 4.0, "last_ack_ms": None}
    >>> decide(0.1, {"severity": "critical"}, "Lag", noise, Thresholds())
    ('notify', 'critical severity is never suppressed by the model alone (score 0.10)')
    >>> decide(0.5, {"severity": "info"}, "Lag", None, Thresholds())[1]
    'first alerts of this kind: nobody has told the model about it yet, so it pages (score 0.50)'
    >>> decide(0.1, {"severity": "info"}, "Lag", noise, Thresholds())
    ('suppress', 'the model gives 0.10 that someone acts on it (0 acted on, 4 noise for Lag): \
suppressed below 0.15')
    >>> acted = {"actionable": 9.0, "noise": 2.0, "last_ack_ms": 1}
    >>> decide(0.1, {"severity": "info"}, "Lag", acted, Thresholds())[1]
    'people acted on most alerts of this kind (9 acted on, 2 noise for Lag): it pages (score 0.10)'
    >>> db = {"severity": "info", "service": "db"}
    >>> decide(0.1, db, "Lag", noise, Thresholds(), Quiet(None))[1]
    'first time Lag fires on db: people said nothing of it there, so it pages (score 0.10)'
    >>> decide(0.1, db, "Lag", noise, Thresholds(), Quiet(2 * 86_400_000, 3_600_000))[1]
    'Lag had not fired on db for 2d (never for longer than 1h before): what people said of it \
is older, so it pages (score 0.10)'
    """
    told = (
        f" ({stats['actionable']:g} acted on, {stats['noise']:g} noise for {kind})" if stats else ""
    )
    said = f"the model gives {score:.2f} that someone acts on it{told}"
    if stats is None or stats["actionable"] + stats["noise"] < 1.0:
        return (
            "notify",
            f"first alerts of this kind: nobody has told the model about it yet, so it pages "
            f"(score {score:.2f})",
        )
    if score >= at.notify:
        return "notify", said
    if alert["severity"] == "critical":
        return (
            "notify",
            f"critical severity is never suppressed by the model alone (score {score:.2f})",
        )
    why = _news(kind, str(alert.get("service", "")), quiet)
    if why is not None:
        return "notify", f"{why}, so it pages (score {score:.2f})"
    if ack_ratio(stats) >= ACTED_ON:
        return (
            "notify",
            f"people acted on most alerts of this kind{told}: it pages (score {score:.2f})",
        )
    if score >= at.digest:
        return "digest", f"{said}: below {at.notify:g} ({at.route}), so it goes to the digest"
    return "suppress", f"{said}: suppressed below {at.digest:g}"


def _news(kind: str, service: str, quiet: Quiet) -> str | None:
    """Why the kind firing on this service now is news the labels do not cover, or ``None``."""
    if quiet.ms is None:
        return f"first time {kind} fires on {service}: people said nothing of it there"
    if quiet.news:
        hours = (quiet.ms // 3_600_000 * 3_600_000, quiet.longest_ms // 3_600_000 * 3_600_000)
        before = f" (never for longer than {words(hours[1])} before)" if hours[1] else ""
        return (
            f"{kind} had not fired on {service} for {words(hours[0])}{before}:"
            " what people said of it is older"
        )
    return None


def score_alert(
    learner: Learner,
    alert: Alert,
    at: Thresholds,
    at_ms: int | None = None,
    quiet: Quiet = NOT_NEWS,
) -> Alert:
    """``alert`` with its ``score``, ``decision``, the reason in words and the ``features`` the
    model saw (what people's labels of it will be learned on); ``at_ms`` is its ``starts_at``
    when the caller has it already, ``quiet`` how long its kind was quiet on its service
    (:mod:`app.learning.novelty`).

    >>> alert = {"id": "a1", "tenant": "t", "source": "api", "severity": "warning",
    ...          "service": "db", "title": "Lag", "labels": {}, "template_id": "t1",
    ...          "fingerprint": "f", "fingerprint_rate": 0.0, "status": "firing",
    ...          "starts_at": "2026-11-23T03:00:00Z", "ends_at": None, "reasons": []}
    >>> scored = score_alert(Learner(0.35), alert, Thresholds())
    >>> scored["score"], scored["decision"], scored["features"]["kind"]
    (0.4, 'notify', 't1')
    """
    kind = kind_of(alert)
    stats = learner.kinds.get(kind)
    seen = features(alert, stats, epoch_ms(alert["starts_at"]) if at_ms is None else at_ms)
    score = learner.predict(seen)
    decision, why = decide(score, alert, kind, stats, at, quiet)
    return {
        **alert,
        "score": round(score, 4),
        "decision": decision,
        "reasons": [*alert["reasons"], why],
        "features": seen,
    }
