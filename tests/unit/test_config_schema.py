"""docs/config.schema.json: generated from the models, so it cannot drift, and it accepts the
example files while refusing what check-config refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.config.schema import SCHEMA_FILE, text
from tests.harness import REPO

EXAMPLES = [
    REPO / "tests" / "fixtures" / "alertmanager.yml",
    REPO / "deploy" / "alertflow.example.yaml",
    REPO / "deploy" / "alertmanager.yml",
]


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def test_the_published_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text() == text(), "run: .venv/bin/python -m app.config.schema"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_examples_validate(path: Path) -> None:
    errors = [e.message for e in _validator().iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize(
    "document",
    [
        {"rout": {}},
        {"route": {"receiver": "x", "continue": "yes"}},
        {"receivers": [{"name": "a", "type": "pagerduty"}]},  # no routing_key
        {"route": {"receiver": "x", "routes": [{"group_wait": []}]}},
        {"inhibit_rules": [{"source_matchers": "a=b"}]},
    ],
)
def test_the_schema_refuses_what_is_wrong(document: dict[str, Any]) -> None:
    assert list(_validator().iter_errors(document))
