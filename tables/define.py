"""How every table of alertflow is declared: raw keys, JSON values, the chain's partitions."""

from __future__ import annotations

import faust

from app.faust_app import app
from app.topics import PARTITIONS

# Per RocksDB database (one per table and partition, dozens per worker): Faust's defaults are
# 64 MB x 3 write buffers and a 2 GB block cache each, which alone grow a worker past 1 GB.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024 * 1024,
    "block_cache_size": 4 * 1024 * 1024,
    "block_cache_compressed_size": 1024 * 1024,
}


def keyed_table(name: str, help: str) -> faust.Table:
    """A RocksDB table with a changelog topic, partitioned like the chain.

    Keys are raw bytes on the changelog (``key_type=bytes``) exactly as on the topics, so a
    key's changelog partition, the partition its stream writes it from, and the partition the
    web router computes for it are all the same. Code reads and writes them as ``str``.
    """
    return app.Table(
        name,
        key_type=bytes,
        partitions=PARTITIONS,
        help=help,
        options=dict(ROCKSDB_OPTIONS),  # a copy: the store pops keys from it
    )
