"""Phases: the runs of a scope's new alerts without a pause longer than their own pace allows.

A tool that hammers one host (a directory brute-force, a vulnerability scan) sends hundreds of
alerts a second; a few seconds of silence, and the next tool's burst is another step of the
attack, even when its alerts have the same rules and host. A fixed window (``group_gap``:
minutes) cannot see that pause; a window scaled to the scope's own pace can. Per *scope* (as
storms count them: ``tenant <t>``, ``service <s>``), triage keeps ``[started ms, newest ms,
mean gap ms]`` — the mean (EWMA) of the pauses between the scope's new alerts — and a new
phase starts when an alert comes after a pause longer than ``PAUSE_FACTOR`` times that mean
(for arrivals at a steady rate, a pause that long has odds of e^-20), never shorter than
``MIN_PAUSE_MS`` (senders stamp alerts to the second) and never longer than
``MAX_PAUSE_MS`` (the default ``group_gap``: a scope quiet that long starts afresh anyway);
until a phase has ``MIN_ALERTS`` alerts its pace is not known, and only ``MAX_PAUSE_MS`` ends it.

Triage stamps each new firing alert with the phase of each of its scopes (``phase``: scope →
start ms). Nothing joins across a phase boundary of the same scope: correlation does not put an
alert into its group's incident of an earlier phase of its service, the tenant-wide rules do
not merge incidents of two phases of one service by content, place or co-occurrence, and a storm
lasts one phase of its scope (:mod:`app.correlation.storm`).

Chosen on the AIT scenarios of ``make eval-ait`` (dev data): any ``MIN_PAUSE_MS`` from 3 to 7
seconds separates their bursts (pauses of 8 and 10 s between two tools on one host, up to 3 s
within one); ``PAUSE_FACTOR`` from 10 to 50 gave the same grouping. ``MIN_ALERTS`` on the
simulated streams of ``scripts/replay``: with 10, a storm whose alerts Alertmanager delayed
was split. There (a few new alerts a minute per service) the pause is the cap.
"""

from __future__ import annotations

from typing import Any

MIN_PAUSE_MS = 5_000
MAX_PAUSE_MS = 5 * 60_000
PAUSE_FACTOR = 20
MIN_ALERTS = 50  # before its pace counts
ALPHA = 0.1  # weight of the newest pause in the mean

Phase = list[float]  # [started ms, newest ms, mean gap ms, alerts]


def pause_limit(phase: Phase) -> float:
    """The longest pause the phase survives.

    >>> [pause_limit([0, 0, gap, 50]) for gap in (15_000.0, 2.0, 1_000.0)]
    [300000, 5000, 20000.0]
    >>> pause_limit([0, 0, 2.0, 3])  # three alerts say little about a pace
    300000
    """
    if len(phase) < 4 or phase[3] < MIN_ALERTS:
        return MAX_PAUSE_MS
    return min(MAX_PAUSE_MS, max(MIN_PAUSE_MS, PAUSE_FACTOR * phase[2]))


def advance(phase: Phase | None, at: int) -> Phase:
    """The scope's phase after a new alert at ``at`` (ms): the same one, or a new one after a
    pause too long for its pace. An alert older than the phase's newest one (a sender's delay)
    belongs to it and leaves its pace as it was.

    >>> p = advance(None, 0)
    >>> for n in range(1, 100):  # a burst: ten alerts a second
    ...     p = advance(p, n * 100)
    >>> p[0], pause_limit(p)
    (0, 5000)
    >>> advance(p, 9_900 + 4_000)[0], advance(p, 9_900 + 6_000)[0]  # 4 s pause; 6 s pause
    (0, 15900)
    """
    if phase is None or at - phase[1] > pause_limit(phase):
        return [at, at, 0.0, 1]
    started, newest, gap = phase[:3]
    alerts = phase[3] if len(phase) > 3 else MIN_ALERTS
    if at < newest:  # a sender's delay: it tells nothing of the pace
        return [started, newest, gap, alerts + 1]
    pause = at - newest
    mean = pause if alerts == 1 else gap + ALPHA * (pause - gap)
    return [started, at, round(mean, 3), alerts + 1]


def stamp(phases: dict[str, Phase], scopes: list[str]) -> dict[str, int]:
    """What an alert carries: the start of each of its scopes' current phases."""
    return {scope: int(phases[scope][0]) for scope in scopes if scope in phases}


def service_scope(service: str) -> str:
    """The scope of a service's phases (as storms name it)."""
    return f"service {service}"


def apart(mine: dict[str, Any] | None, theirs: dict[str, Any] | None, scope: str) -> bool:
    """Whether two stamps put ``scope`` in different phases (``False`` when either lacks it).

    >>> apart({"service a": 5}, {"service a": 9}, "service a"), apart({}, {"service a": 9}, "x")
    (True, False)
    """
    if not mine or not theirs or scope not in mine or scope not in theirs:
        return False
    return bool(mine[scope] != theirs[scope])
