"""A tenant's content templates: its online miner, kept as one small row per template.

The miner (:class:`app.templates.miner.TemplateMiner`, at most ``max_clusters`` templates)
lives warm in memory; its rows are what a worker that takes the tenant over rebuilds it from:
``<tenant>|tc|<template id>`` → ``{"count", "used", "variants": [[seq, text], ...]}`` and the
list of the tenant's template ids, ``<tenant>|tm`` → ``{"ids": [...]}`` (at most the miner's
``max_clusters``). After each call only the templates that were born or generalised are
written, and evicted ones deleted (the miner's ``take_changes()``); counts and recency
(``used``) are as of a template's last write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.records import Alert
from app.runtime.state import RowAccess
from app.templates.miner import ClusterRecord, Template, TemplateMiner


def message_text(alert: Alert) -> str:
    """The free text a person reads: title, then description.

    >>> message_text({"title": "Disk full on db1", "description": ""})
    'Disk full on db1'
    """
    return " — ".join(part for part in (alert["title"], alert["description"]) if part)


def cluster_key(tenant: str, template_id: str) -> str:
    """Row of one template.

    >>> cluster_key("acme", "3f2a9c")
    'acme|tc|3f2a9c'
    """
    return f"{tenant}|tc|{template_id}"


def list_key(tenant: str) -> str:
    """Row listing a tenant's template ids."""
    return f"{tenant}|tm"


class Templates:
    """One tenant's miner and what changed in it since its rows were last written.

    >>> from app.runtime.state import MemoryRows
    >>> rows = MemoryRows()
    >>> templates = Templates.load(rows, "t")
    >>> a = templates.match("Invalid user alice from 10.1.2.3")
    >>> b = templates.match("Invalid user bob from 10.9.8.7")
    >>> templates.save(rows, "t"); [key[:5] for key in sorted(rows.data)]
    ['t|tc|', 't|tm']
    >>> Templates.load(rows, "t").match("Invalid user eve from ::1") == b
    True
    """

    def __init__(self, found: list[tuple[str, ClusterRecord]]) -> None:
        self.miner = TemplateMiner.from_clusters(found, track_changes=True)
        self._ids = {template_id for template_id, _ in found}

    @classmethod
    def load(cls, rows: RowAccess, tenant: str) -> Templates:
        """The tenant's miner as its rows describe it (an empty one without rows)."""
        return cls(records(rows.get, tenant))

    def match(self, text: str) -> Template:
        """The template of ``text`` (the miner learns from it)."""
        return self.miner.match(text)

    def save(self, rows: RowAccess, tenant: str) -> None:
        """Write the templates born or generalised since the last save; delete evicted ones."""
        changed, evicted = self.miner.take_changes()
        if not changed and not evicted:
            return
        for template_id, record in changed.items():
            rows.put(cluster_key(tenant, template_id), record)
        for template_id in evicted:
            rows.delete(cluster_key(tenant, template_id))
        self._ids = (self._ids | changed.keys()) - evicted
        rows.put(list_key(tenant), {"ids": sorted(self._ids)})


def records(get: Callable[[str], Any], tenant: str) -> list[tuple[str, ClusterRecord]]:
    """The tenant's template rows, read with ``get`` (a table's or a call's)."""
    listing = get(list_key(tenant))
    found = []
    for template_id in listing["ids"] if listing else ():
        record = get(cluster_key(tenant, template_id))
        if record is not None:
            found.append((template_id, record))
    return found
