"""Group commit: what several callers send within a short linger goes to the broker together.

One round is sent at a time; what arrives while a round is with the broker waits and goes
together in the next, so the slower the broker answers, the larger the rounds (and rounds never
race each other for a partition). Each caller returns once the broker acknowledged its round
(``acks=all``), or hears of the round's failure. The bridge sends its requests this way
(:mod:`app.bridge`), the notify stage its delivery results (:mod:`app.notify.delivery`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from app.runtime.batches import Message, Place
from app.runtime.outbox import Producer

Part = TypeVar("Part")


@dataclass
class _Round(Generic[Part]):
    parts: list[Part] = field(default_factory=list)
    weight: int = 0
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    lingered: bool = False  # its linger is over: it goes as soon as no round is being sent


class Coalescer(Generic[Part]):
    """Sends the parts that arrive within ``linger`` seconds of each other together, one round
    at a time: while a round is being sent, the next one keeps gathering parts (up to ``most``
    by ``weight``; fuller rounds queue behind it). ``messages`` makes a round's messages."""

    def __init__(
        self,
        producer: Producer,
        messages: Callable[[list[Part]], dict[Place, list[Message]]],
        linger: float,
        most: int,
        weight: Callable[[Part], int] = lambda part: 1,
    ) -> None:
        self._producer = producer
        self._messages = messages
        self._linger = linger
        self._most = most
        self._weight = weight
        self._round: _Round[Part] | None = None  # the round new parts join
        self._full: deque[_Round[Part]] = deque()  # rounds closed while another was being sent
        self._sending: asyncio.Task[None] | None = None

    async def send(self, part: Part) -> None:
        """Send ``part`` with the others of its round; return once all are acknowledged."""
        current = self._round
        if current is None:
            current = self._round = _Round()
            asyncio.get_running_loop().call_later(self._linger, self._lingered, current)
        current.parts.append(part)
        current.weight += self._weight(part)
        if current.weight >= self._most:
            self._round = None
            self._full.append(current)
            self._next()
        await asyncio.shield(current.done)

    def _lingered(self, current: _Round[Part]) -> None:
        current.lingered = True
        self._next()

    def _next(self) -> None:
        """Start sending the next round, unless one is being sent."""
        if self._sending is not None:
            return
        if self._full:
            current = self._full.popleft()
        elif self._round is not None and self._round.lingered:
            current, self._round = self._round, None
        else:
            return
        self._sending = asyncio.get_running_loop().create_task(self._flush(current))

    async def _flush(self, current: _Round[Part]) -> None:
        try:
            await self._producer.send(self._messages(current.parts))
        except BaseException as error:  # every part of the round hears of it
            current.done.set_exception(error)
            current.done.exception()  # retrieved: a round nobody waits for logs nothing
        else:
            current.done.set_result(None)
        finally:
            self._sending = None
            self._next()
