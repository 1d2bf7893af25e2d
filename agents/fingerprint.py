"""Stage 3: content identity — each alert's text gets a template from its tenant's miner.

The label identity (``fingerprint``) comes from the source; this stage adds the content
identity (``template_id``, ``template``) with the online miner of :mod:`app.templates.miner`.
The miner's state lives in the ``templates`` table, one per tenant; a warm copy is kept in
memory and written back whenever a template is born or generalises.
"""

from __future__ import annotations

from typing import Any

from agents.stage import emit
from app import topics
from app.faust_app import app
from app.records import Alert, epoch_ms
from app.templates.miner import Template, TemplateMiner
from tables.templates import templates as _templates_table
from tables.write_behind import WriteBehind

templates_table = WriteBehind(_templates_table)

_miners: dict[str, TemplateMiner] = {}
_known: dict[str, dict[str, str]] = {}


def message_text(alert: Alert) -> str:
    """The free text a person reads: title, then description.

    >>> message_text({"title": "Disk full on db1", "description": ""})
    'Disk full on db1'
    """
    return " — ".join(part for part in (alert["title"], alert["description"]) if part)


def _miner(tenant: str) -> TemplateMiner:
    if tenant not in _miners:
        state = templates_table.get(tenant)
        _miners[tenant] = TemplateMiner.from_state(state) if state else TemplateMiner()
        _known[tenant] = {}
    return _miners[tenant]


def _assign(tenant: str, text: str) -> tuple[Template, bool]:
    """The template of ``text`` and whether the miner's templates changed."""
    template = _miner(tenant).match(text)
    known = _known[tenant]
    changed = known.get(template.id) != template.text
    known[template.id] = template.text
    return template, changed


async def handle(tenant: str, alert: Alert) -> None:
    """Give the alert its content template; hand it on to the correlation stage."""
    template, changed = _assign(tenant, message_text(alert))
    if changed:
        templates_table[tenant] = _miners[tenant].to_state()
    await emit(
        topics.fingerprint_facts,
        alert["fingerprint"],
        {
            "kind": "template",
            "tenant": tenant,
            "fingerprint": alert["fingerprint"],
            "template_id": template.id,
            "template": template.text,
            "at": alert["received_at"],
        },
    )
    marked = {**alert, "template_id": template.id, "template": template.text}
    await emit(topics.fingerprinted, tenant, marked, epoch_ms(alert["starts_at"]) / 1000)


@app.on_partitions_assigned.connect
async def _forget_miners(*_: Any, **__: Any) -> None:
    """After a rebalance the table is the truth: drop the warm copies."""
    _miners.clear()
    _known.clear()
