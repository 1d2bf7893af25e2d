"""Parts: an incident's alerts kept in another partition than its head.

Correlation places an alert in its group's partition; a storm's incident lives in the partition
of its own id. Such an alert is not sent on to the incident's partition (a second hop for most
alerts of a storm): its member row stays where it was placed, under the incident's *part* there
— an id of that partition which names the incident — and it is published from there. The
incident hears only the change it makes, an ``adopt`` contribution on ``notify.events``
numbered by the record's position (:meth:`app.notify.step.Step.contribute`). A part has no row
of its own — its id says which incident it belongs to — until that incident merges into
another: then a redirect, so the part publishes in the other one (:mod:`app.notify.events`).
"""

from __future__ import annotations

from functools import lru_cache

from app.runtime.partitions import partition_of

SEPARATOR = "~"  # never in an incident's own id (hex digests: app.correlation.group, .storm)


@lru_cache(maxsize=8192)
def part_id(incident_id: str, partition: int, partitions: int) -> str:
    """The id of ``incident_id``'s part in ``partition`` (among ``partitions``).

    >>> part = part_id("9f2c", 3, 8)
    >>> partition_of(part, 8), whole(part), is_part(part), is_part("9f2c")
    (3, '9f2c', True, False)
    """
    salt = 0
    while partition_of(candidate := f"{incident_id}{SEPARATOR}{salt}", partitions) != partition:
        salt += 1
    return candidate


def whole(incident_id: str) -> str:
    """The incident a part belongs to; an incident's own id for any other.

    >>> whole("9f2c~14"), whole("9f2c")
    ('9f2c', '9f2c')
    """
    return incident_id.split(SEPARATOR, 1)[0]


def is_part(incident_id: str) -> bool:
    """Whether ``incident_id`` names a part, not an incident."""
    return SEPARATOR in incident_id
