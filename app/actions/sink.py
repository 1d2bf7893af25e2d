"""The ``action`` receiver: what the notify agent delivers to, like any other receiver.

The notification log makes a delivery happen once per (incident, receiver, state), and a
delivery here only *requests* a run: it writes ``{"kind": "request", ...}`` to
``actions.events`` (keyed by the run id, which is the notification id) and returns once Kafka
has it. The ``actions`` agent (:mod:`agents.actions`) decides and runs from there; a request
sent twice (a re-send after a crash) names the same run and starts nothing new.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from app.actions.spec import ActionSpec, parse_action


class ActionSink:
    """Requests a run of its action for each notification whose change is in ``spec.on``.

    Built from the receiver's settings as the configuration file gives them (unset ones
    ``None``); :mod:`app.actions.config` has validated them already.

    >>> sink = ActionSink(name="fix", command=["/usr/bin/true"], mode=None)
    >>> sink.name, sink.spec.mode
    ('fix', 'dry_run')
    """

    def __init__(self, name: str, **settings: Any) -> None:
        self.name = name
        given = {key: value for key, value in settings.items() if value is not None}
        self.spec: ActionSpec = parse_action(f"receivers.{name}", given)

    def __repr__(self) -> str:
        return f"ActionSink(name={self.name!r})"

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Hand the run request to Kafka (nothing runs here)."""
        if notification.get("change") not in self.spec.on:
            return
        from app.actions.submit import submit  # the worker's producer: config stays Kafka-free

        await submit(self.name, notification)
