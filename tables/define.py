"""How every table of alertflow is declared: raw keys, JSON values, the chain's partitions."""

from __future__ import annotations

import faust

from app.faust_app import app
from app.topics import PARTITIONS


def keyed_table(name: str, help: str) -> faust.Table:
    """A RocksDB table with a changelog topic, partitioned like the chain.

    Keys are raw bytes on the changelog (``key_type=bytes``) exactly as on the topics, so a
    key's changelog partition, the partition its stream writes it from, and the partition the
    web router computes for it are all the same. Code reads and writes them as ``str``.
    """
    return app.Table(name, key_type=bytes, partitions=PARTITIONS, help=help)
