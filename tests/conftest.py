"""Fixtures for every test, unit and flow alike: only those that need no broker and no worker.

The broker, worker, receiver and topic-reader fixtures are in ``tests/flow/conftest.py``, so
only the flow tests can ask for them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import REPO


@pytest.fixture
def fixtures_dir() -> Path:
    """The captured payloads of real senders."""
    path = REPO.parent / "shared" / "fixtures"
    if not path.is_dir():
        pytest.skip(f"{path} is missing: the shared fixtures sit beside the repository")
    return path
