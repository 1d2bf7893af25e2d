"""Configuration snapshots for unit tests: a document plus webhook receivers of given names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.config import Config, from_document


def config_of(document: Mapping[str, Any], *receivers: str) -> Config:
    """The snapshot of ``document`` with a webhook receiver for each name in ``receivers``."""
    sinks = [{"name": n, "type": "webhook", "url": f"http://127.0.0.1:9/{n}"} for n in receivers]
    return from_document({**document, "receivers": sinks}, {})
