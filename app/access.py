"""Who may do what: API tokens, their roles and their tenants.

Tokens are declared under ``tokens:`` in the ``ALERTFLOW_CONFIG`` file, hashed at rest::

    tokens:
      - id: alertmanager-team-a          # who, in the audit log
        sha256: 9f86d08188...            # of the token (``alertflow token new`` makes both)
        role: ingest                     # ingest, read, operate or admin
        tenants: [team-a]                # or "*"

A role grants capabilities: ``ingest`` posts alerts; ``read`` reads alerts, incidents and
models; ``operate`` also acknowledges, resolves and silences; ``admin`` may do everything
(the audit log too). ``ALERTFLOW_API_TOKEN`` stays what it was: one admin token for every
tenant (id ``api-token``). Without any token the API is open (and, see :mod:`app.cli`, bound
to loopback only). A token presented as a Sentry DSN key only ever ingests.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.settings import SettingsError

Role = Literal["ingest", "read", "operate", "admin"]
Need = Literal["ingest", "read", "operate", "admin", "any", "none"]
ROLES: tuple[Role, ...] = ("ingest", "read", "operate", "admin")
GRANTS: Mapping[str, frozenset[str]] = {
    "ingest": frozenset({"ingest", "any"}),
    "read": frozenset({"read", "any"}),
    "operate": frozenset({"read", "operate", "any"}),
    "admin": frozenset({"ingest", "read", "operate", "admin", "any"}),
}
GLOBAL_TOKEN_ID = "api-token"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class TokenSpec(BaseModel):
    """One entry of ``tokens:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, description="who the token is, as the audit log names it")
    sha256: str = Field(description="hex SHA-256 of the token (alertflow token hash)")
    role: Role = Field(description="ingest, read, operate or admin")
    tenants: list[str] | Literal["*"] = Field(description='the tenants it may act for, or "*"')

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if _HEX64.fullmatch(value.lower()) is None:
            raise ValueError("expected 64 hex digits: the SHA-256 of the token")
        return value.lower()


@dataclass(frozen=True)
class Principal:
    """The caller of one request: token id, role, tenants (``None``: all), how it proved it."""

    id: str
    role: Role
    tenants: frozenset[str] | None
    via: Literal["bearer", "dsn", "link", "open"] = "bearer"

    def may(self, need: Need) -> bool:
        """Whether the role grants ``need``.

        >>> Principal("t", "operate", None).may("read"), Principal("t", "read", None).may("operate")
        (True, False)
        """
        return need == "none" or need in GRANTS[self.role]

    def serves(self, tenant: str) -> bool:
        """Whether the caller may act for ``tenant``.

        >>> Principal("t", "read", frozenset({"a"})).serves("b")
        False
        """
        return self.tenants is None or tenant in self.tenants


OPEN = Principal("anonymous", "admin", None, "open")


def digest(token: str) -> str:
    """The hex SHA-256 of a token, as ``tokens:`` stores it.

    >>> digest("s3cret")[:16]
    '1ec1c26b50d5d3c5'
    """
    return hashlib.sha256(token.encode()).hexdigest()


class TokenError(SettingsError):
    """The ``tokens:`` section is invalid; the message names the entry at fault."""


@dataclass(frozen=True)
class Tokens:
    """Every token this worker accepts, by digest."""

    by_digest: Mapping[str, Principal]

    @property
    def open(self) -> bool:
        """No token at all: every caller is let in (as before tokens existed)."""
        return not self.by_digest

    def find(self, offered: str) -> Principal | None:
        """The principal of ``offered`` (a bearer token or DSN key), or ``None``.

        >>> tokens = build([TokenSpec(id="a", sha256=digest("x"), role="read", tenants=["t"])])
        >>> tokens.find("x").id, tokens.find("y")
        ('a', None)
        """
        if not offered:
            return None
        wanted = digest(offered)
        for known, principal in self.by_digest.items():
            if hmac.compare_digest(known, wanted):
                return principal
        return None


def build(specs: Iterable[TokenSpec], api_token: str | None = None) -> Tokens:
    """The tokens of ``specs`` plus the global admin token; ids and digests must be unique."""
    found: dict[str, Principal] = {}
    ids: set[str] = set()
    if api_token:
        found[digest(api_token)] = Principal(GLOBAL_TOKEN_ID, "admin", None)
        ids.add(GLOBAL_TOKEN_ID)
    for spec in specs:
        if spec.id in ids:
            raise TokenError(f"tokens: id {spec.id!r} appears twice")
        if spec.sha256 in found:
            raise TokenError(f"tokens: {spec.id!r} has the digest of another token")
        tenants = None if spec.tenants == "*" else frozenset(spec.tenants)
        found[spec.sha256] = Principal(spec.id, spec.role, tenants)
        ids.add(spec.id)
    return Tokens(found)


def load_tokens(api_token: str | None, environ: Mapping[str, str] | None = None) -> Tokens:
    """``ALERTFLOW_API_TOKEN`` and the ``tokens:`` of the ``ALERTFLOW_CONFIG`` file."""
    env = os.environ if environ is None else environ
    path = env.get("ALERTFLOW_CONFIG")
    document: Any = {}
    if path:
        try:
            document = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TokenError(f"ALERTFLOW_CONFIG: cannot read tokens from {path}: {exc}") from exc
    entries = document.get("tokens") if isinstance(document, dict) else None
    if entries is None:
        return build([], api_token)
    if not isinstance(entries, list):
        raise TokenError("tokens: expected a list of {id, sha256, role, tenants}")
    specs = []
    for index, entry in enumerate(entries):
        try:
            specs.append(TokenSpec.model_validate(entry))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise TokenError(f"tokens[{index}].{where}: {problem['msg']}") from None
    return build(specs, api_token)
