"""The ``action`` receiver: what the notify agent delivers to, like any other receiver.

The notification log makes a delivery happen once per (incident, receiver, state), and a
delivery here only *requests* a run: it writes ``{"kind": "request", ...}`` to
``actions.events`` (keyed by the run id, which is the notification id) and returns once Kafka
has it. The ``actions`` agent (:mod:`agents.actions`) decides and runs from there; a request
sent twice (a re-send after a crash) names the same run and starts nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from app.actions.spec import ActionSpec, parse_action


@dataclass(frozen=True)
class ActionSink:
    """Requests a run of ``spec`` for each notification whose change is in ``spec.on``."""

    spec: ActionSpec
    name: str = "action"

    @classmethod
    def from_config(cls, path: str, name: str, settings: Mapping[str, Any]) -> ActionSink:
        """The receiver of one ``receivers:`` item (:mod:`app.sinks.config` calls this)."""
        return cls(parse_action(path, settings), name)

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Hand the run request to Kafka (nothing runs here)."""
        if notification.get("change") not in self.spec.on:
            return
        from app.actions.submit import submit  # the worker's producer: config stays Kafka-free

        await submit(self.name, notification)
