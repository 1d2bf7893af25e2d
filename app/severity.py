"""One severity scale for every source: ``critical``, ``error``, ``warning``, ``info``.

These are PagerDuty's four levels, which every receiver understands. What sources send is
mapped here (case and surrounding spaces ignored); the value as sent is kept beside it in the
alert (``severity_original``), so nothing is lost. Anything unknown is ``warning``.

=========================  ==========  ==================================================
sent                       becomes     why
=========================  ==========  ==================================================
P1, P2, critical, crit,    critical    pages: Opsgenie's P1 (critical) and P2 (high),
high, fatal, emergency,                Sentry's fatal, syslog's emerg/alert/crit
emerg, alert, page
error, err, P3 …           error       see below: P3 is a warning
P3, warning, warn,         warning     Opsgenie's P3 (moderate); Sentry's warning
medium, moderate
P4, P5, info, low,         info        Opsgenie's P4 (low) and P5 (informational);
informational, notice,                 Sentry's info and debug; syslog's notice
debug, none
=========================  ==========  ==================================================

>>> [severity(s) for s in ("P1", "p2", " High ", "fatal", "error", "P3", "P4", "P5", "debug")]
['critical', 'critical', 'critical', 'critical', 'error', 'warning', 'info', 'info', 'info']
>>> severity("sev-unknown"), severity(None), severity(3)
('warning', 'warning', 'warning')
"""

from __future__ import annotations

SEVERITIES = ("critical", "error", "warning", "info")
DEFAULT = "warning"
MAP = {
    **dict.fromkeys(
        ("p1", "p2", "critical", "crit", "high", "fatal", "emergency", "emerg", "alert", "page"),
        "critical",
    ),
    **dict.fromkeys(("error", "err"), "error"),
    **dict.fromkeys(("p3", "warning", "warn", "medium", "moderate"), "warning"),
    **dict.fromkeys(
        ("p4", "p5", "info", "low", "informational", "notice", "debug", "none"), "info"
    ),
}


def severity(value: object) -> str:
    """The severity on alertflow's scale of what a source sent (see the table above)."""
    if not isinstance(value, str):
        return DEFAULT
    return MAP.get(value.strip().lower(), DEFAULT)


def original(value: object) -> str | None:
    """The severity as sent, kept in the alert; ``None`` when none was sent.

    >>> original(" P1 "), original(None), original(2)
    ('P1', None, '2')
    """
    if value is None or value == "":
        return None
    return str(value).strip()
