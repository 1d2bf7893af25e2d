"""The JSON schema of alertflow's configuration file, for editors (docs/config.schema.json).

Made from the models of :mod:`app.config.spec`, plus the settings (:mod:`app.settings`) the file
may also hold. ``python -m app.config.schema`` rewrites the file; a test fails when it is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from app.config.spec import FileSpec
from app.settings import setting_names

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "config.schema.json"


def schema() -> dict[str, Any]:
    """The schema: every section, every setting, nothing else at the top.

    >>> s = schema()
    >>> s["additionalProperties"], "route" in s["properties"], "http_port" in s["properties"]
    (False, True, True)
    """
    found = FileSpec.model_json_schema(mode="validation")
    for name in setting_names():
        found["properties"][name] = {
            "description": f"setting ALERTFLOW_{name.upper()} (the environment wins)",
            "type": ["string", "number", "boolean", "null"],
        }
    found["additionalProperties"] = False
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "alertflow configuration (ALERTFLOW_CONFIG or an alertmanager.yml)",
        **found,
    }


def text() -> str:
    """The schema as the file holds it."""
    return json.dumps(schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(text())
    print(f"wrote {SCHEMA_FILE}", file=sys.stderr)
