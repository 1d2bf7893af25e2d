"""Signed Acknowledge/Resolve links: what a chat message can carry instead of the API token.

A link is ``<incident url>/<action>?sig=<hex>&exp=<epoch seconds>&by=<receiver>`` with ``sig``
the HMAC-SHA256 of ``"<incident_id>:<action>:<exp>:<by>"`` keyed with ``ALERTFLOW_API_TOKEN``.
It is a capability for one action on one incident until ``exp``, used once (the web view keeps
the used ones, :mod:`tables.links_used`), recorded as done ``by`` the receiver it was sent to.
Links made before ``by`` existed sign ``"<incident_id>:<action>:<exp>"`` and still verify.
Without a token the API is open, and links are plain.
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


def signature(token: str, incident_id: str, action: str, exp: int, by: str | None = None) -> str:
    """The hex HMAC-SHA256 of ``"<incident_id>:<action>:<exp>[:<by>]"`` keyed with the token.

    >>> signature("t", "i1", "resolve", 1700000000)[:16]
    '35b58eb2828f2c90'
    >>> signature("t", "i1", "resolve", 1700000000, "ops")[:16]
    '583b9456a1257754'
    """
    message = f"{incident_id}:{action}:{exp}" + ("" if by is None else f":{by}")
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify(
    token: str | None,
    incident_id: str,
    action: str,
    sig: str | None,
    exp: str | None,
    now: float,
    by: str | None = None,
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
    expected = signature(token, incident_id, action, int(exp), by)
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

    def actions(
        self, incident_url: str, incident_id: str, now: float, by: str = "signed link"
    ) -> dict[str, str]:
        """Action → link; signed, valid for ``lifetime_s`` from ``now``, when a token is set;
        whoever uses it is recorded as ``by`` (the receiver it goes to).

        >>> LinkSigner(None).actions("https://af/api/v1/incidents/i1", "i1", now=0)["resolve"]
        'https://af/api/v1/incidents/i1/resolve'
        >>> links = LinkSigner("t", 60).actions("https://af/i/i1", "i1", now=100, by="ops")
        >>> link = links["resolve"]
        >>> sig = signature("t", "i1", "resolve", 160, "ops")
        >>> link.split("?")[1] == f"sig={sig}&exp=160&by=ops"
        True
        """
        if self.token is None:
            return {action: f"{incident_url}/{action}" for action in ACTIONS}
        exp = int(now + self.lifetime_s)
        return {
            action: f"{incident_url}/{action}?"
            + urlencode(
                {"sig": signature(self.token, incident_id, action, exp, by), "exp": exp, "by": by}
            )
            for action in ACTIONS
        }
