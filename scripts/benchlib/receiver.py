#!/usr/bin/env python3
"""A local notification receiver for the bench: answers 200 to every POST, counts them.

Runs in its own process, so the bench's consumers never slow the worker's deliveries.
Usage: receiver.py PORT; ``GET /count`` answers what :class:`Tally` counted so far.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

RETRACTED_SECONDS = 1.0  # a page told "resolved, merged into" this soon was crying wolf


@dataclass
class Tally:
    """What the receiver was told: every post; first pages; incidents resolved because they
    were merged into another, and how many of those within ``RETRACTED_SECONDS`` of their page.

    >>> tally = Tally()
    >>> tally.add({"receiver": "r", "incident_id": "i1", "change": "firing"}, now=10.0)
    >>> tally.add({"receiver": "r", "incident_id": "i1", "change": "resolved",
    ...            "merged_into": "i2"}, now=10.3)
    >>> tally.add({"receiver": "r", "incident_id": "i3", "change": "firing"}, now=11.0)
    >>> tally.add({"receiver": "r", "incident_id": "i3", "change": "resolved",
    ...            "merged_into": "i2"}, now=15.0)
    >>> tally.add(b"not json", now=16.0)
    >>> tally.counts()
    {'posts': 5, 'pages': 2, 'merged': 2, 'retracted': 1}
    """

    posts: int = 0
    pages: int = 0
    merged: int = 0
    retracted: int = 0
    _paged: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(self, body: Any, now: float) -> None:
        """Count one post (its decoded JSON body; anything else is counted as a post only)."""
        self.posts += 1
        if not isinstance(body, dict):
            return
        incident = (str(body.get("receiver")), str(body.get("incident_id")))
        if body.get("change") == "firing":
            self.pages += 1
            self._paged.setdefault(incident, now)
        elif body.get("merged_into"):
            self.merged += 1
            paged = self._paged.get(incident)
            self.retracted += paged is not None and now - paged <= RETRACTED_SECONDS

    def counts(self) -> dict[str, int]:
        """The counts, as ``GET /count`` answers them."""
        return {
            "posts": self.posts,
            "pages": self.pages,
            "merged": self.merged,
            "retracted": self.retracted,
        }


def make_app() -> web.Application:
    """The receiver's app: ``POST /hook`` counts, ``GET /count`` tells."""
    tally = Tally()

    async def hook(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        tally.add(body, time.monotonic())
        return web.Response(status=200)

    async def count(_request: web.Request) -> web.Response:
        return web.json_response(tally.counts())

    app = web.Application()
    app.add_routes([web.post("/hook", hook), web.get("/count", count)])
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None)
