"""Signed Acknowledge/Resolve links: what a chat message can carry instead of the API token.

A link is ``<incident url>/<action>?sig=<hex>&exp=<epoch seconds>`` with ``sig`` the
HMAC-SHA256 of ``"<incident_id>:<action>:<exp>"`` keyed with ``ALERTFLOW_API_TOKEN``. It is a
capability for one action on one incident until ``exp``. Without a token the API is open, and
links are plain.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

ACTIONS = ("acknowledge", "resolve")
_EXP = re.compile(r"[0-9]{1,12}")  # epoch seconds in ASCII digits: "²" and 5,000 digits are not
DEFAULT_LIFETIME_S = 24 * 3600


class LinkError(Exception):
    """A link that does not grant its action: ``code`` says why (for the API's error shape)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def signature(token: str, incident_id: str, action: str, exp: int) -> str:
    """The hex HMAC-SHA256 of ``"<incident_id>:<action>:<exp>"`` keyed with the API token.

    >>> signature("t", "i1", "resolve", 1700000000)[:16]
    '35b58eb2828f2c90'
    """
    message = f"{incident_id}:{action}:{exp}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def verify(
    token: str | None, incident_id: str, action: str, sig: str | None, exp: str | None, now: float
) -> None:
    """Raise :class:`LinkError` unless ``sig``/``exp`` grant ``action`` on the incident now.

    >>> good = signature("t", "i1", "resolve", 2000)
    >>> verify("t", "i1", "resolve", good, "2000", now=1999)
    >>> verify(None, "i1", "resolve", None, None, now=0)  # no token: links need no signature
    >>> verify("t", "i1", "acknowledge", good, "2000", now=1999)
    Traceback (most recent call last):
    ...
    app.links.LinkError: the link's signature is not valid for this incident and action
    >>> verify("t", "i1", "resolve", good, "2000", now=2001)
    Traceback (most recent call last):
    ...
    app.links.LinkError: the link expired at 1970-01-01T00:33:20Z; use the newest notification
    """
    if token is None:
        return
    if not sig or not exp or _EXP.fullmatch(exp) is None:
        raise LinkError("invalid_signature", "the link needs sig and exp (or use the API token)")
    expected = signature(token, incident_id, action, int(exp))
    if not hmac.compare_digest(sig.lower().encode(), expected.encode()):
        raise LinkError(
            "invalid_signature", "the link's signature is not valid for this incident and action"
        )
    if now > int(exp):
        at = datetime.fromtimestamp(int(exp), UTC).isoformat().replace("+00:00", "Z")
        raise LinkError("link_expired", f"the link expired at {at}; use the newest notification")


@dataclass(frozen=True)
class LinkSigner:
    """Builds the Acknowledge/Resolve links of a notification at send time."""

    token: str | None
    lifetime_s: float = DEFAULT_LIFETIME_S

    def actions(self, incident_url: str, incident_id: str, now: float) -> dict[str, str]:
        """Action → link; signed, valid for ``lifetime_s`` from ``now``, when a token is set.

        >>> LinkSigner(None).actions("https://af/api/v1/incidents/i1", "i1", now=0)["resolve"]
        'https://af/api/v1/incidents/i1/resolve'
        >>> link = LinkSigner("t", 60).actions("https://af/i/i1", "i1", now=100)["resolve"]
        >>> link.split("?")[1] == f"sig={signature('t', 'i1', 'resolve', 160)}&exp=160"
        True
        """
        if self.token is None:
            return {action: f"{incident_url}/{action}" for action in ACTIONS}
        exp = int(now + self.lifetime_s)
        return {
            action: f"{incident_url}/{action}?"
            + urlencode({"sig": signature(self.token, incident_id, action, exp), "exp": exp})
            for action in ACTIONS
        }
