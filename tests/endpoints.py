"""Every endpoint of the HTTP API, read from the app's router: a new view is tested at once."""

from __future__ import annotations


def endpoints() -> list[tuple[str, str, str | None]]:
    """(method, path template, need) of every view method; ``need`` as declared with
    ``@guarded``, ``None`` for a view that declares nothing."""
    from app.faust_app import app, load_modules
    from app.web.http import needs

    load_modules()
    found = []
    for path, view in app.web.views.items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in vars(type(view)):  # the router holds view instances
                found.append((method.upper(), path, needs(view, method)))
    return sorted(found, key=lambda endpoint: (endpoint[1], endpoint[0]))
