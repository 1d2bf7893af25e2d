#!/usr/bin/env python3
"""A local notification receiver for the bench: answers 200 to every POST, counts them.

Runs in its own process, so the bench's consumers never slow the worker's deliveries.
Usage: receiver.py PORT; ``GET /count`` answers the number of posts so far.
"""

from __future__ import annotations

import sys

from aiohttp import web


def make_app() -> web.Application:
    """The receiver's app: ``POST /hook`` counts, ``GET /count`` tells."""
    posts = [0]

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        posts[0] += 1
        return web.Response(status=200)

    async def count(_request: web.Request) -> web.Response:
        return web.json_response({"posts": posts[0]})

    app = web.Application()
    app.add_routes([web.post("/hook", hook), web.get("/count", count)])
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None)
