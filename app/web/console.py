"""``GET /``: the on-call console, and ``GET /console/{asset}``: its script and style sheet.

Neither needs the token: the page holds no data. Its script asks the API for everything, with
the token the person types into it (see :mod:`app.console`).
"""

from __future__ import annotations

from faust.web import Request, Response, View

from app.console.page import ASSETS, HEADERS, asset, frame
from app.faust_app import app
from app.web.http import ApiError, guarded


@app.page("/")
class Console(View):
    """``GET /``: the console's page."""

    @guarded("none")
    async def get(self, request: Request) -> Response:
        """The frame the script fills."""
        return self.html(frame(), headers=dict(HEADERS))


@app.page("/console/{name}")
class ConsoleAsset(View):
    """``GET /console/console.js`` and ``/console/console.css``."""

    @guarded("none")
    async def get(self, request: Request, name: str) -> Response:
        """The file, or 404."""
        body = asset(name)
        if body is None:
            raise ApiError(404, "not_found", f"the console has no file {name!r}")
        headers = {**HEADERS, "Cache-Control": "no-cache"}
        return self.bytes(body, content_type=ASSETS[name], headers=headers)
