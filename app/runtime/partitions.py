"""Where a key lives: the partition alertflow's producers and tables give it.

Every record alertflow produces goes to ``crc32(key) mod partitions`` (zlib's crc32: a C call,
where Kafka's default murmur2 costs 15 µs a key in Python), and every table row is written while
handling a record of that partition, so a row's changelog partition, the partition its stage
reads it from, and the partition the web router computes for its key are the same.
"""

from __future__ import annotations

import zlib


def partition_of(key: str, partitions: int) -> int:
    """The partition of ``key`` among ``partitions``.

    >>> partition_of("team-a", 4) == zlib.crc32(b"team-a") % 4
    True
    >>> {partition_of(f"k{n}", 4) for n in range(64)} == {0, 1, 2, 3}
    True
    """
    return zlib.crc32(key.encode()) % partitions
