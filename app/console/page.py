"""The console's HTML frame, served at ``/``; ``static/console.js`` renders the views into it."""

from __future__ import annotations

from html import escape
from importlib import resources

ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def asset(name: str) -> bytes | None:
    """The bytes of a static file of the console, or ``None`` for a name it does not have.

    >>> asset("console.css")[:2], asset("../page.py")
    (b'/*', None)
    """
    if name not in ASSETS:
        return None
    return resources.files("app.console").joinpath("static", name).read_bytes()


def frame(title: str = "alertflow") -> str:
    """The page: landmarks, navigation, forms and empty regions, in their keyboard order.

    >>> page = frame()
    >>> page.count("<main"), 'src="/console/console.js"' in page, "<noscript>" in page
    (1, True, True)
    """
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{escape(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/console.css">
<script src="/console/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <p class="brand"><a href="#/">alertflow</a></p>
  <nav aria-label="Console">
    <ul>
      <li><a href="#/">Incidents</a></li>
      <li><a href="#/silences">Silences</a></li>
      <li><a href="#/model">Model</a></li>
    </ul>
  </nav>
  <form id="scope" class="scope">
    <label>Tenant <input id="tenant" name="tenant" placeholder="all" autocomplete="off"
      size="12"></label>
    <label>Your name <input id="by" name="by" autocomplete="name" size="12"></label>
    <button type="submit">Apply</button>
  </form>
  <p id="live" class="live" role="status" aria-live="polite">Connecting…</p>
</header>
<section id="signin" class="signin" hidden aria-labelledby="signin-title">
  <h2 id="signin-title">Sign in</h2>
  <p id="signin-why">This server needs its API token.</p>
  <form id="signin-form">
    <label>API token <input id="token" type="password" autocomplete="off" required></label>
    <button type="submit">Use this token</button>
  </form>
  <p class="hint">The token stays in this tab (sessionStorage) and is sent as
    <code>Authorization: Bearer</code>; closing the tab forgets it.</p>
</section>
<main id="main" tabindex="-1">
  <noscript><p>The console needs JavaScript; the HTTP API under <code>/api/v1/</code>
    works without it.</p></noscript>
</main>
<p id="announce" class="visually-hidden" aria-live="polite"></p>
<footer class="foot"><button type="button" id="forget" hidden>Forget token</button></footer>
</body>
</html>
"""
