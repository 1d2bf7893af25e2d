"""How every table of alertflow is declared: str keys, orjson values, the chain's partitions."""

from __future__ import annotations

import faust

from app.faust_app import app
from app.topics import PARTITIONS


def keyed_table(name: str, help: str, value_serializer: str = "orjson") -> faust.Table:
    """A RocksDB table with a changelog topic, partitioned like the chain."""
    schema = faust.Schema(key_type=str, key_serializer="raw", value_serializer=value_serializer)
    return app.Table(name, schema=schema, partitions=PARTITIONS, help=help)
