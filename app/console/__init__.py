"""The on-call console: one HTML page served by every worker, a small script, a style sheet.

The page (:mod:`app.console.page`) is the frame — navigation, the token and tenant forms, the
regions the views fill — and ``static/console.js`` fills it from the HTTP API and the live
stream, with the token the person typed once (kept in ``sessionStorage``, sent as ``Bearer``).
No build step: the script is plain JavaScript that runs as written.
"""
