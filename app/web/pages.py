"""The pages a signed link opens (acknowledge/resolve an incident, approve an action): small
HTML without script, served with headers that keep the capability URL out of caches and
referrers."""

from __future__ import annotations

from html import escape

CAPABILITY_HEADERS = {  # the page's URL carries a capability: keep it out of caches and referrers
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


def page(title: str, body: str, width_em: int = 32) -> str:
    """A page titled ``title`` (escaped) around ``body`` (HTML), ``width_em`` wide at most.

    >>> "<h1>A &amp; B</h1>" in page("A & B", "<p>x</p>")
    True
    """
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · alertflow</title>"
        f"<style>body{{font-family:sans-serif;max-width:{width_em}em;"
        "margin:2em auto;padding:0 1em}"
        "button{font-size:1.1em;padding:.6em 1em;margin:.3em 0;width:100%}</style>"
        f"</head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
