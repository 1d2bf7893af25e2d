"""Template co-occurrence, learned online per tenant: which contents tend to fire together.

Each new firing alert counts an *occasion* of its content template (at most one per
``OCCASION_MS``), and one of each pair it forms with the templates of the tenant's new alerts of
the last ``COOCCUR_MS`` (``recent``), counted by day over ``COOCCUR_DAYS`` days. Two templates
co-occur when their pair was counted on at least ``MIN_COOCCUR`` occasions and on at least
``COOCCUR_SHARE`` of the occasions of either template (a template that fires all the time
co-occurs with everything, by chance). A template's row keeps the templates that passed
``MIN_COOCCUR`` with it (``partners``, at most ``MAX_PARTNERS``), so the rule looks up a few
partners instead of every live incident.

Rows (tenant-prefixed, each with a ``due`` for expiry): ``<tenant>|o|<template>`` —
``{"last", "days", "partners", "due"}``; ``<tenant>|p|<a> <b>`` — ``{"last", "days", "due"}``.
"""

from __future__ import annotations

from typing import Any

from app.runtime.state import RowAccess

COOCCUR_MS = 5 * 60_000  # templates whose alerts come this close co-occur
OCCASION_MS = 3_600_000  # a template or pair is counted at most once in this long
COOCCUR_DAYS = 30
MIN_COOCCUR = 3  # co-occurrences before two templates' incidents join …
COOCCUR_SHARE = 0.5  # … which must also be this share of the occasions of each template
MAX_PARTNERS = 16
MAX_RECENT = 32  # templates of the last COOCCUR_MS kept at most
DAY_MS = 86_400_000


def template_key(tenant: str, template: str) -> str:
    """Row of a template's occasions and partners.

    >>> template_key("acme", "3f2a")
    'acme|o|3f2a'
    """
    return f"{tenant}|o|{template}"


def pair_key(tenant: str, a: str, b: str) -> str:
    """Row of a pair's occasions, the same whichever order.

    >>> pair_key("acme", "b", "a") == pair_key("acme", "a", "b") == "acme|p|a b"
    True
    """
    first, second = (a, b) if a <= b else (b, a)
    return f"{tenant}|p|{first} {second}"


def occasions(entry: dict[str, Any] | None, at: int, before: bool = False) -> int:
    """Occasions counted in a row within ``COOCCUR_DAYS`` of ``at`` — ``before`` the one
    counted at ``at`` itself, if any (the alert being decided counted it already).

    >>> occasions({"last": 50 * DAY_MS, "days": {"10": 2, "50": 1}}, 50 * DAY_MS)
    1
    >>> occasions({"last": 50 * DAY_MS, "days": {"10": 2, "50": 1}}, 50 * DAY_MS, before=True)
    0
    """
    if entry is None:
        return 0
    first_day = at // DAY_MS - COOCCUR_DAYS
    counted: int = sum(n for day, n in entry["days"].items() if int(day) > first_day)
    return counted - 1 if before and entry["last"] == at else counted


def _counted(entry: dict[str, Any] | None, at: int) -> dict[str, Any] | None:
    """The row after one more occasion at ``at``, or ``None`` when within ``OCCASION_MS`` of
    the last one (nothing to write)."""
    entry = entry or {"last": -OCCASION_MS - 1, "days": {}, "due": 0}
    if at - entry["last"] <= OCCASION_MS:
        return None
    today = at // DAY_MS
    days = {d: n for d, n in entry["days"].items() if int(d) > today - COOCCUR_DAYS}
    days[str(today)] = days.get(str(today), 0) + 1
    return {**entry, "last": at, "days": days, "due": at + COOCCUR_DAYS * DAY_MS}


def learn(
    rows: RowAccess, tenant: str, recent: list[list[Any]], template: str, at: int
) -> list[list[Any]]:
    """Count an occasion of ``template`` and of its pairs with ``recent`` (``[ms, template]`` of
    the tenant's latest new alerts); return the new ``recent``.

    >>> from app.runtime.state import MemoryRows
    >>> rows, recent = MemoryRows(), []
    >>> for hour in range(3):
    ...     recent = learn(rows, "t", recent, "a", hour * 7_200_000)
    ...     recent = learn(rows, "t", recent, "b", hour * 7_200_000 + 60_000)
    >>> rows.get("t|o|a")["partners"], occasions(rows.get("t|p|a b"), 3 * 7_200_000)
    (['b'], 3)
    """
    recent = [r for r in recent if abs(at - r[0]) <= COOCCUR_MS]
    own = _counted(rows.get(template_key(tenant, template)), at)
    if own is not None:
        rows.put(template_key(tenant, template), own)
    listed = False
    for _, other in recent:
        if other == template:
            listed = True
            continue
        key = pair_key(tenant, template, other)
        pair = _counted(rows.get(key), at)
        if pair is None:
            continue
        rows.put(key, pair)
        if occasions(pair, at) >= MIN_COOCCUR:
            _partner(rows, tenant, template, other)
            _partner(rows, tenant, other, template)
    if not listed:
        recent = [*recent, [at, template]][-MAX_RECENT:]
    return recent


def _partner(rows: RowAccess, tenant: str, template: str, other: str) -> None:
    key = template_key(tenant, template)
    entry = rows.get(key)
    if entry is None or other in entry.get("partners", ()):
        return
    partners = [*entry.get("partners", []), other][-MAX_PARTNERS:]
    rows.put(key, {**entry, "partners": partners})


def partners(rows: RowAccess, tenant: str, template: str) -> list[str]:
    """The templates that co-occurred with ``template`` often enough to be looked at."""
    entry = rows.get(template_key(tenant, template))
    return list(entry.get("partners", ())) if entry else []


def evidence(rows: RowAccess, tenant: str, template: str, other: str, at: int) -> tuple[int, int]:
    """``(times the pair co-occurred, occasions of the busier template)`` when the two
    co-occur by the rule above, else ``(0, 0)``; what an alert of ``template`` at ``at``
    counted itself is left out (the rule weighs what came before it).

    >>> from app.runtime.state import MemoryRows
    >>> rows, recent = MemoryRows(), []
    >>> for hour in range(4):
    ...     recent = learn(rows, "t", recent, "a", hour * 7_200_000)
    ...     if hour < 3:
    ...         recent = learn(rows, "t", recent, "b", hour * 7_200_000 + 60_000)
    >>> evidence(rows, "t", "b", "a", 8 * 7_200_000)
    (3, 4)
    """
    times = occasions(rows.get(pair_key(tenant, template, other)), at, before=True)
    mine = occasions(rows.get(template_key(tenant, template)), at, before=True)
    theirs = occasions(rows.get(template_key(tenant, other)), at)
    most = max(mine, theirs)
    if times >= max(MIN_COOCCUR, COOCCUR_SHARE * most):
        return times, most
    return 0, 0
